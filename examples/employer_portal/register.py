"""Register the sample portal with Clef once: ``clef clients add`` as an administrator
would run it, its client id and secret kept in ``instance/employer_portal.json``
(readable by its owner only).

Idempotent: when the file exists and Clef still knows its client, nothing happens; when
Clef does not (a fresh database), the portal is registered again. Uses the same
configuration as ``clef`` itself (``IDP_*`` variables).

Usage: python examples/employer_portal/register.py [--file PATH] [--url http://127.0.0.1:5001]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

CLEF = Path(sys.executable).parent / "clef"


def clef(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLEF), *args], capture_output=True, text=True, check=False)  # noqa: S603 - our own CLI


def registration_args(url: str) -> list[str]:
    return ["clients", "add", "--name", "Employer Portal",
            "--redirect-uri", f"{url}/callback",
            "--post-logout-redirect-uri", f"{url}/",
            "--backchannel-logout-uri", f"{url}/backchannel-logout",
            "--trusted"]


def parse_credentials(output: str) -> dict[str, str]:
    """The ``client_id`` and ``client_secret`` lines ``clef clients add`` prints."""
    found = dict(line.split(None, 1) for line in output.splitlines()
                 if line.startswith(("client_id ", "client_secret ")))
    if "client_id" not in found or "client_secret" not in found:
        raise SystemExit(f"unexpected output of clef clients add:\n{output}")
    return {key: value.strip() for key, value in found.items()}


def write_private(path: Path, data: dict[str, str]) -> None:
    """Written whole or not at all, mode 0600 from the start (it holds a secret)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
    partial.replace(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=Path("instance/employer_portal.json"))
    parser.add_argument("--url", default="http://127.0.0.1:5001", help="the portal's own URL")
    options = parser.parse_args()
    url = options.url.rstrip("/")
    if options.file.exists():
        client_id = json.loads(options.file.read_text(encoding="utf-8"))["client_id"]
        if clef("clients", "show", client_id).returncode == 0:
            print(f"employer portal: already registered as {client_id}")
            return 0
        print(f"employer portal: Clef no longer knows {client_id}; registering again")
    added = clef(*registration_args(url))
    if added.returncode != 0:
        print(added.stdout + added.stderr, file=sys.stderr)
        return 1
    write_private(options.file, parse_credentials(added.stdout))
    print(f"employer portal: registered; credentials in {options.file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
