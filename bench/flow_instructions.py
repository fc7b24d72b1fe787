# ruff: noqa: S603, S607  (a harness: it runs valgrind on this very file)
"""Instructions per sign-in flow and per request (issue 11), counted by valgrind's
callgrind: the same figures from one run to the next whatever else the machine does,
where CPU time on a shared machine moved by a third between two runs of the same code.

    .venv/bin/python bench/flow_instructions.py [FLOWS]

Runs this file under callgrind: the set-up (an embedded SQLite database, a trusted
portal, FLOWS + 5 accounts with an authenticator app, five flows to warm up), then
FLOWS flows, the same screens as ``flow_in_process.py`` (authorize, the sign-in page
and its POST, the second step's page and its POST, authorize again, the code exchange)
with a cheap argon2id (1 MiB, one pass), so the flow's own work is not lost in
argon2's. Only the app's WSGI calls are counted (the body read to the end inside them),
not the test client's work, nor a server's: callgrind collects inside them alone and
dumps its counts after each (its client requests ``CALLGRIND_TOGGLE_COLLECT``,
``CALLGRIND_ZERO_STATS`` and ``CALLGRIND_DUMP_STATS`` from valgrind's ``callgrind.h``,
in a three-function library compiled here with the C compiler and called through
ctypes). It prints the instructions per request kind and per flow. Python's hash seed
is fixed.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 5
MARKS = """#include <valgrind/callgrind.h>
void clef_zero(void) { CALLGRIND_ZERO_STATS; }
void clef_dump(void) { CALLGRIND_DUMP_STATS; }
void clef_toggle(void) { CALLGRIND_TOGGLE_COLLECT; }
"""


class Counted:
    """The app's WSGI callable, with callgrind collecting only inside it (the body read
    to the end there) and its counts dumped after each request, whose kind is kept in
    order: the server's instructions, not the test client's."""

    def __init__(self, inner: Any, marks: Any) -> None:
        self.inner, self.marks = inner, marks
        self.kinds: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.kinds.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
        self.marks.clef_toggle()
        self.marks.clef_zero()
        try:
            body = self.inner(environ, start_response)
            try:
                return list(body)
            finally:
                getattr(body, "close", lambda: None)()
        finally:
            self.marks.clef_dump()
            self.marks.clef_toggle()


def run_flows(flows: int, accounts: int) -> None:
    """The child, under callgrind: the set-up, then ``flows`` flows."""
    from flow_in_process import CHEAP, create_account, flow_app, full_flow

    with tempfile.TemporaryDirectory(prefix="clef-instr-") as folder:
        app, rp = flow_app(folder, CHEAP)
        names = [f"flow{secrets.token_hex(6)}" for _ in range(accounts)]
        for name in names:
            create_account(app, name)
        counted = Counted(app.wsgi_app, ctypes.CDLL(os.environ["CLEF_CALLGRIND_MARKS"]))
        app.wsgi_app = counted  # type: ignore[method-assign]
        for name in names[:WARM_UP]:
            full_flow(rp, username=name)
        warm = len(counted.kinds)
        for name in names[WARM_UP:]:
            full_flow(rp, username=name)
        Path(os.environ["CLEF_CALLGRIND_KINDS"]).write_text(
            json.dumps({"warm": warm, "kinds": counted.kinds}))


def instructions(flows: int) -> dict[str, list[int]]:
    """The instructions of each request of ``flows`` flows after the warm-up, by kind."""
    with tempfile.TemporaryDirectory(prefix="clef-callgrind-") as folder:
        (Path(folder) / "marks.c").write_text(MARKS)
        subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", f"{folder}/marks.so",
                        f"{folder}/marks.c"], check=True)
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/out",
             "--collect-atstart=no", "--dump-instr=no", "--dump-line=no",
             sys.executable, __file__, "--child", str(flows), str(WARM_UP + flows)],
            env=dict(os.environ, PYTHONHASHSEED="0", CLEF_CALLGRIND_MARKS=f"{folder}/marks.so",
                     CLEF_CALLGRIND_KINDS=f"{folder}/kinds.json"),
            cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(done.stderr[-3000:])
        recorded = json.loads((Path(folder) / "kinds.json").read_text())
        dumps = sorted((p for p in Path(folder).iterdir() if re.fullmatch(r"out\.\d+", p.name)),
                       key=lambda p: int(p.name.split(".")[1]))
        if len(dumps) != len(recorded["kinds"]):
            raise SystemExit(f"{len(dumps)} dumps for {len(recorded['kinds'])} requests")
        by_kind: dict[str, list[int]] = {}
        for kind, dump in list(zip(recorded["kinds"], dumps, strict=True))[recorded["warm"]:]:
            found = re.search(r"^summary: (\d+)", dump.read_text(), re.MULTILINE)
            if found is None:
                raise SystemExit(f"no summary in {dump.name}")
            by_kind.setdefault(kind, []).append(int(found.group(1)))
        return by_kind


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        run_flows(int(sys.argv[2]), int(sys.argv[3]))
        return
    flows = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    by_kind = instructions(flows)
    print(f"{flows} flows, cheap argon2id, inside the app's WSGI calls; thousands of "
          "instructions")
    print(f"{'request':24} {'per flow':>8} {'each, min':>10} {'each, max':>10} {'a flow':>10}")
    total = 0
    for kind, counts in by_kind.items():
        per_flow = len(counts) / flows
        total += sum(counts)
        print(f"{kind:24} {per_flow:8.1f} {min(counts) / 1e3:10,.0f} {max(counts) / 1e3:10,.0f} "
              f"{sum(counts) / flows / 1e3:10,.0f}")
    print(f"{'one flow':24} {'':8} {'':10} {'':10} {total / flows / 1e3:10,.0f}")


if __name__ == "__main__":
    main()
