"""A WSGI app for the graceful-stop test (tests/test_serve.py): ``/slow`` says it has
begun (a file named by ``CLEF_TEST_STARTED``), then waits for ``CLEF_TEST_RELEASE`` to
exist before it answers, so the test stops the server while a request is in flight."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    Path(os.environ["CLEF_TEST_STARTED"]).touch()
    release = Path(os.environ["CLEF_TEST_RELEASE"])
    for _ in range(300):  # at most 30 s: the test releases it long before
        if release.exists():
            break
        time.sleep(0.1)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"finished"]
