"""The sample portal served beside the live Clef, for browser journeys through a portal:
registered with Clef through the CLI as ``register.py`` registers it, on its own port."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from tests.browser.journey import LiveServer
from tests.helpers import run_cli


@contextmanager
def serve_sample_portal(live_server: LiveServer, tmp_path: Path,
                        **settings: Any) -> Iterator[tuple[LiveServer, str]]:
    """The portal and its client id; ``settings`` are extra portal settings (e.g.
    ``ACR_VALUES``). The socket is bound first, so the portal registers its own URL."""
    from examples.employer_portal import create_app
    from examples.employer_portal.register import parse_credentials, registration_args

    holder: dict[str, Any] = {}

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        return holder["app"](environ, start_response)

    server: BaseWSGIServer = make_server("127.0.0.1", 0, wsgi, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    added = run_cli(live_server.app, *registration_args(url))
    assert added.exit_code == 0, added.output
    credentials = parse_credentials(added.output)
    client_file = tmp_path / "employer_portal.json"
    client_file.write_text(json.dumps(credentials), encoding="utf-8")
    holder["app"] = create_app({
        "ISSUER": live_server.url, "URL": url, "CLIENT_FILE": str(client_file),
        "STORE": str(tmp_path / "portal.sqlite3"), "SECRET_KEY": "portal-test-" + "x" * 32,
        **settings,
    })
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              name="portal-live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(holder["app"], url, live_server.clock), credentials["client_id"]
    finally:
        server.shutdown()
        thread.join(timeout=10)
