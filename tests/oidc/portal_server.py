"""A portal's back-channel logout endpoint, served over real HTTP in a thread: it keeps
every logout token it is sent, and can be down (nothing listening) until started."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet

EVENT = "http://schemas.openid.net/event/backchannel-logout"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PortalServer:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/backchannel-logout"

    def start(self) -> PortalServer:
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                form = parse_qs(self.rfile.read(length).decode("ascii"))
                received.extend(form.get("logout_token", []))
                self.send_response(200)
                self.send_header("Cache-Control", "no-store")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def logout_claims(self, browser: FlaskClient, client_id: str) -> list[dict[str, Any]]:
        """Each received token checked as §2.6 says a portal must: signature against the
        provider's JWKS, iss, aud, iat, the event, a sub or sid, and no nonce."""
        keys = KeySet.import_key_set(browser.get("/jwks").get_json())
        claims = []
        for token in self.received:
            decoded = jwt.decode(token, keys, algorithms=["RS256", "ES256"])
            assert decoded.header.get("typ") == "logout+jwt"
            found = dict(decoded.claims)
            assert found["iss"] == "http://127.0.0.1:5000" and found["aud"] == client_id
            assert EVENT in found["events"] and "nonce" not in found
            assert found["sub"] and found["sid"] and found["jti"] and found["iat"] < found["exp"]
            claims.append(found)
        return claims
