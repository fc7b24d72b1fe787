"""``make run``'s demonstration sign-in partner (J14): a second Clef instance on
http://localhost:5002 (its own database, keys and instance folder; "localhost", not
127.0.0.1, so its session cookie is not Clef's), registered with Clef as the partner
"Demonstration bank" and with it as a portal, as two administrators would.

Idempotent: when Clef already has the partner, nothing happens.

Usage: python examples/demo_bank/register.py [--clef http://127.0.0.1:5000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

CLEF = Path(sys.executable).parent / "clef"
NAME = "Demonstration bank"
BANK_URL = "http://localhost:5002"
BANK_DIR = Path("instance/demo_bank")


def bank_environment() -> dict[str, str]:
    """The demonstration bank's settings (``IDP_*`` variables; config/Procfile has the
    same): its own instance folder holds its database and secret key."""
    return {"IDP_SERVICE__BASE_URL": BANK_URL, "IDP_SERVICE__INSTANCE_DIR": str(BANK_DIR)}


def run(*args: str, bank: bool = False, given: str | None = None) -> subprocess.CompletedProcess[str]:
    """``clef`` (the bank's when ``bank``), with ``given`` on its standard input."""
    env = {**os.environ, **bank_environment()} if bank else None
    return subprocess.run([str(CLEF), *args], capture_output=True, text=True, check=False,  # noqa: S603 - our own CLI
                          env=env, input=given)


def must(result: subprocess.CompletedProcess[str]) -> str:
    if result.returncode != 0:
        raise SystemExit(result.stdout + result.stderr)
    return result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clef", default="http://127.0.0.1:5000", help="Clef's own URL")
    options = parser.parse_args()
    BANK_DIR.mkdir(parents=True, exist_ok=True)
    must(run("db", "upgrade", bank=True))
    listed = must(run("partners", "list")).splitlines()
    if any(f"\t{NAME}\t" in line for line in listed):
        print(f"demonstration bank: already a partner of Clef, on {BANK_URL}")
        return 0
    next_id = max([int(line.split("\t")[0]) for line in listed if line] + [0]) + 1
    callback = f"{options.clef.rstrip('/')}/partners/{next_id}/callback"
    added = must(run("clients", "add", "--name", "Clef", "--redirect-uri", callback,
                     "--trusted", bank=True))
    found = dict(line.split(None, 1) for line in added.splitlines()
                 if line.startswith(("client_id ", "client_secret ")))
    shown = must(run("partners", "add", "--name", NAME, "--issuer", BANK_URL,
                     "--client-id", found["client_id"].strip(), "--logo-text", "DEMO",
                     given=found["client_secret"].strip() + "\n"))
    if f"redirect_uri   {callback}" not in shown:
        raise SystemExit(f"unexpected redirect URI:\n{shown}")
    print(f"demonstration bank: registered on {BANK_URL}; register a person there first")
    return 0


if __name__ == "__main__":
    sys.exit(main())
