# ruff: noqa: S603, S607  (a harness: it runs valgrind on this very file)
"""Instructions per sign-in flow (issue 11), counted by valgrind's callgrind: the same
figure from one run to the next whatever else the machine does, where CPU time on a
shared machine moved by a third between two runs of the same code.

    .venv/bin/python bench/flow_instructions.py [FLOWS]

Runs this file under callgrind: the set-up (an embedded SQLite database, a trusted
portal, FLOWS + 5 accounts with an authenticator app, five flows to warm up), then
FLOWS flows, counted alone: callgrind's counts are zeroed as they start and dumped as
they end, by its own client requests (``CALLGRIND_ZERO_STATS``, ``CALLGRIND_DUMP_STATS``
from valgrind's ``callgrind.h``, in a two-function library compiled here with the C
compiler and called through ctypes). It prints the instructions of one whole flow,
the same screens as
``flow_in_process.py`` (authorize, the sign-in page and its POST, the second step's page
and its POST, authorize again, the code exchange) with a cheap argon2id (1 MiB, one
pass), so the flow's own work is not lost in argon2's. Only the app's WSGI calls are
counted (callgrind collects inside them alone, ``CALLGRIND_TOGGLE_COLLECT``): not the
test client's work, nor a server's. Python's hash seed is fixed.
"""

from __future__ import annotations

import ctypes
import os
import re
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHEAP = {"memory_kib": 1024, "time_cost": 1, "parallelism": 1}
WARM_UP = 5
MARKS = """#include <valgrind/callgrind.h>
void clef_zero(void) { CALLGRIND_ZERO_STATS; }
void clef_dump(void) { CALLGRIND_DUMP_STATS; }
void clef_toggle(void) { CALLGRIND_TOGGLE_COLLECT; }
"""


class Counted:
    """The app's WSGI callable, with callgrind collecting only inside it (the body read
    to the end there): the server's instructions, not the test client's."""

    def __init__(self, inner: Any, marks: Any) -> None:
        self.inner, self.marks = inner, marks

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.marks.clef_toggle()
        try:
            body = self.inner(environ, start_response)
            try:
                return list(body)
            finally:
                getattr(body, "close", lambda: None)()
        finally:
            self.marks.clef_toggle()


def run_flows(flows: int, accounts: int) -> None:
    """The child, under callgrind: the set-up, then ``flows`` flows."""
    sys.path.insert(0, str(ROOT))
    from idp.app import create_app
    from idp.migrate import upgrade
    from tests.helpers import create_account
    from tests.oidc.conftest import full_flow
    from tests.oidc.rp import RelyingParty, register_client

    with tempfile.TemporaryDirectory(prefix="clef-instr-") as folder:
        overrides: dict[str, Any] = {
            "service": {"instance_dir": folder, "secret_key": "flow-instructions-" + "x" * 40},
            "database": {"url": f"sqlite:///{folder}/clef.sqlite3"},
            "argon2": CHEAP,
            "rate_limit": {k: "1000000/minute" for k in (
                "signin_per_ip", "second_factor_per_ip", "token_per_ip", "token_per_client")}}
        app = create_app(overrides)
        upgrade(app.extensions["clef"].settings.database_url)
        client_id, secret = register_client(app, "--name", "Bench portal", "--redirect-uri",
                                            "https://portal.example/callback", "--trusted")
        names = [f"flow{secrets.token_hex(6)}" for _ in range(accounts)]
        for name in names:
            create_account(app, name)
        marks = ctypes.CDLL(os.environ["CLEF_CALLGRIND_MARKS"])
        app.wsgi_app = Counted(app.wsgi_app, marks)  # type: ignore[method-assign]
        rp = RelyingParty(app, client_id, secret or "")
        for name in names[:WARM_UP]:
            full_flow(rp, username=name)
        marks.clef_zero()
        for name in names[WARM_UP:]:
            full_flow(rp, username=name)
        marks.clef_dump()


def instructions(flows: int) -> int:
    """The instructions of ``flows`` flows, counted alone."""
    with tempfile.TemporaryDirectory(prefix="clef-callgrind-") as folder:
        (Path(folder) / "marks.c").write_text(MARKS)
        subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", f"{folder}/marks.so",
                        f"{folder}/marks.c"], check=True)
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/out",
             "--collect-atstart=no",
             sys.executable, __file__, "--child", str(flows), str(WARM_UP + flows)],
            env=dict(os.environ, PYTHONHASHSEED="0", CLEF_CALLGRIND_MARKS=f"{folder}/marks.so"),
            cwd=ROOT, capture_output=True, text=True)
        dumps = [p for p in Path(folder).iterdir() if p.name.startswith("out.")]
        if done.returncode != 0 or len(dumps) != 1:
            raise SystemExit(f"{[p.name for p in dumps]}\n{done.stderr[-3000:]}")
        found = re.search(r"^summary: (\d+)", dumps[0].read_text(), re.MULTILINE)
        if found is None:
            raise SystemExit(f"no summary in {dumps[0].name}")
        return int(found.group(1))


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        run_flows(int(sys.argv[2]), int(sys.argv[3]))
        return
    flows = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    counted = instructions(flows)
    print(f"{flows} flows (cheap argon2id, inside the app's WSGI calls): {counted:,} "
          f"instructions, {counted / flows / 1e6:.2f} million a flow")


if __name__ == "__main__":
    main()
