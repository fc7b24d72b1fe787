"""gunicorn settings for `make run` (and a starting point for deployments).

Ctrl-C in a terminal sends SIGINT to the master and to every worker. gunicorn's own
reaction is a quick shutdown that cuts requests in flight; here the workers ignore the
terminal's SIGINT and the master treats it as SIGTERM, so requests in flight finish
(up to ``graceful_timeout``) and the server stops cleanly.
"""

from __future__ import annotations

import signal
from typing import Any

preload_app = True  # load Clef once, before the workers fork
workers = 2
threads = 4
graceful_timeout = 5
accesslog = "-"
# gunicorn's control socket sits at one path per user by default, so two servers (Clef
# and the sample portal under `make run`, or a second checkout) would take each other's.
# Nothing here uses it.
control_socket_disable = True


def when_ready(server: Any) -> None:
    server.handle_int = server.handle_term


def post_worker_init(worker: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
