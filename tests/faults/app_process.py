"""A Clef app served in a process of its own, for the fault tests, with a fault planted
where the test asks: the process kills itself with SIGKILL there, as a crash, the OOM
killer or a `kill -9` of a gunicorn worker would, so nothing after it runs (no rollback,
no ``finally``, no background thread).

    python -m tests.faults.app_process OVERRIDES_JSON FAULT

``FAULT`` is ``none``, ``mail-send`` (the moment a committed mail would be handed to the
mailer) or ``statement:<text>`` (before the first SQL statement containing ``<text>``).
The process prints ``PORT <n>`` once it listens.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

from sqlalchemy import event
from werkzeug.serving import make_server

from idp.app import create_app
from idp.outbox import Outbox


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def plant(app: Any, fault: str) -> None:
    if fault == "mail-send":
        Outbox.send = lambda _self, _mail_id: die()  # type: ignore[method-assign,assignment,return-value]
    elif fault.startswith("statement:"):
        needle = fault.removeprefix("statement:")

        def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if needle in statement:
                die()

        event.listen(app.extensions["clef"].engine, "before_cursor_execute", before)


def main() -> None:
    overrides, fault = json.loads(sys.argv[1]), sys.argv[2]
    app = create_app(overrides)
    plant(app, fault)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(f"PORT {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
