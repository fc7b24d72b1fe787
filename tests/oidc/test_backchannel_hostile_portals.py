"""A portal's back-channel logout endpoint that answers with a redirect, or with
something that is not HTTP, is a failed delivery, retried on schedule; it never stops
the worker, and a redirect is never followed. Both failed before: a 302 was followed as a
GET without the logout token to the address it named (inside the operator's network
too) and audited as delivered; an SSH banner raised http.client's BadStatusLine out of
the worker's pass, before the mail outbox's turn, on every pass. Found by an adversarial
review."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flask import Flask

from idp import audit
from idp.clock import FrozenClock
from idp.mail import OutgoingMail
from tests.helpers import audit_events, create_account, csrf, outbox, run_cli
from tests.oidc.conftest import full_flow
from tests.oidc.rp import RelyingParty, register_client

CALLBACK = "https://portal.example/callback"


class _Recorded(ThreadingHTTPServer):
    """A loopback server answering every request with ``status`` and ``location``, and
    keeping each request's method and path."""

    def __init__(self, status: int, location: str | None = None) -> None:
        self.seen: list[tuple[str, str]] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                seen.append((self.command, self.path))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _answer

            def log_message(self, *_: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _NotHttp(socketserver.ThreadingTCPServer):
    """A loopback port that answers an SSH banner to anything."""

    def __init__(self) -> None:
        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.rfile.readline()
                self.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n")

        super().__init__(("127.0.0.1", 0), Handler)
        self.daemon_threads = True
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()


@pytest.fixture
def elsewhere() -> Iterator[_Recorded]:
    server = _Recorded(200)
    yield server
    server.shutdown()
    server.server_close()


def _signed_out_of(app: Flask, backchannel_uri: str) -> None:
    """alice signs in to a portal with that back-channel logout URI, then signs out."""
    create_account(app, "alice")
    client_id, secret = register_client(app, "--name", "Portal", "--redirect-uri", CALLBACK,
                                        "--backchannel-logout-uri", backchannel_uri, "--trusted")
    flow = full_flow(RelyingParty(app, client_id, secret, CALLBACK))
    flow.browser.post("/signout", data={"csrf_token": csrf(flow.browser, "/account")})


def test_a_redirect_is_a_failed_delivery_and_is_not_followed(app: Flask, elsewhere: _Recorded) -> None:
    portal = _Recorded(302, f"{elsewhere.base}/admin/ping")
    try:
        _signed_out_of(app, f"{portal.base}/backchannel-logout")
        assert run_cli(app, "oidc", "deliver").exit_code == 0
        assert portal.seen == [("POST", "/backchannel-logout")]
    finally:
        portal.shutdown()
        portal.server_close()
    assert elsewhere.seen == []
    assert audit_events(app, audit.BACKCHANNEL_DELIVERED) == []
    assert len(audit_events(app, audit.BACKCHANNEL_FAILED)) == 1


def test_a_portal_answering_what_is_not_http_does_not_stop_the_worker(
        app: Flask, clock: FrozenClock) -> None:
    server = _NotHttp()
    try:
        _signed_out_of(app, f"http://127.0.0.1:{server.server_address[1]}/backchannel-logout")
        svc = app.extensions["clef"]
        with svc.session_factory() as db:  # a mail waiting for the worker's same pass
            svc.outbox.stage(db, OutgoingMail(to="bob@example.org", subject="Hello",
                                              text="A message."), clock.now(), message="test")
            db.commit()
        clock.advance(seconds=60)
        result = run_cli(app, "oidc", "deliver")
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 0, repr(result.exception)
    assert len(audit_events(app, audit.BACKCHANNEL_FAILED)) == 1
    assert [m["To"] for m in outbox(app)][-1:] == ["bob@example.org"]
