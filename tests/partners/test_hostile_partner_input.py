"""A hostile or broken partner, and anyone posting to the partners' endpoints, gets the
partner error page or a 400, never a 500 (S28), and a partner's endpoints are reached
over https only (plain http on a loopback host, as the tests' partners). Each test
failed before its fix: a 500, or an http issuer on another host accepted. Found by an
adversarial review."""

from __future__ import annotations

import base64
import json
import socketserver
import threading
from collections.abc import Iterator

import pytest
from flask import Flask

from partners.upstream import PartnerConfig, PartnerError, Upstream, new_trip
from tests.partners.conftest import Partner, start_trip


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def test_a_logout_token_nested_too_deep_is_a_400(app: Flask, bank: Partner) -> None:
    """No credential needed to post one: its header's JSON nested 5,000 deep made
    json.loads raise RecursionError, not a ValueError."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    token = f"{_b64(b'[' * 5_000)}.{_b64(b'{}')}.{_b64(b'sig')}"
    response = app.test_client().post(f"/partners/{bank.partner_id}/backchannel-logout",
                                      data={"logout_token": token})
    assert response.status_code == 400


@pytest.mark.parametrize("state", ["%C3%A9", "%E2%82%AC" * 8])
def test_a_callback_with_a_non_ascii_state_is_the_error_page(
        app: Flask, bank: Partner, state: str) -> None:
    """hmac.compare_digest raises TypeError on a str with non-ASCII characters."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    browser = app.test_client()
    start_trip(browser, bank)
    response = browser.get(f"/partners/{bank.partner_id}/callback?state={state}&code=x")
    assert response.status_code == 400
    assert "partner" in response.get_data(as_text=True).lower()


@pytest.mark.parametrize("issuer", [
    "http://localhost.evil.example", "http://127.0.0.1.evil.example", "http://bank.example",
    "https://bank.example/?tenant=1", "https://bank.example/#x", "ftp://bank.example",
])
def test_an_issuer_other_than_https_or_loopback_http_is_refused(app: Flask, issuer: str) -> None:
    """The check was a string prefix: ``http://localhost.evil.example`` passed, so keys
    and tokens would come over plain http from a host that is not loopback."""
    result = app.test_cli_runner().invoke(
        args=["partners", "add", "--name", "Evil", "--issuer", issuer, "--client-id", "x"],
        input="secret\n")
    assert result.exit_code != 0, result.output
    assert "issuer" in result.output


class _RawPartner:
    """A partner on a free port answering each path with the raw bytes given (status
    line included), as a broken or hostile one could."""

    def __init__(self) -> None:
        answers: dict[str, bytes] = {}
        self.answers = answers

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                line = self.rfile.readline().decode("latin-1")
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                path = line.split(" ")[1] if " " in line else "/"
                self.wfile.write(answers.get(
                    path, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()

    def metadata(self, **endpoints: str) -> None:
        document = {"issuer": self.issuer, "authorization_endpoint": self.issuer + "/authorize",
                    "token_endpoint": self.issuer + "/token", "jwks_uri": self.issuer + "/jwks"}
        self.answers["/.well-known/openid-configuration"] = _json_answer(
            json.dumps({**document, **endpoints}).encode())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _json_answer(body: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


@pytest.fixture
def raw_partner() -> Iterator[_RawPartner]:
    partner = _RawPartner()
    yield partner
    partner.close()


def _exchange(app: Flask, partner: _RawPartner) -> None:
    clef = app.extensions["clef"]
    upstream = Upstream(clef.settings.partners, clef.clock)
    config = PartnerConfig(1, partner.issuer, "client", "secret", "openid", None)
    upstream.exchange(config, new_trip(1), "code", "http://127.0.0.1/cb", 0)


@pytest.mark.parametrize("token_answer", [
    _json_answer(b"[" * 5_000),
    b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 101 + b"Content-Length: 2\r\n\r\n{}",
], ids=["nested-json", "bad-status-line", "too-many-headers"])
def test_a_malformed_token_response_is_a_partner_error(
        app: Flask, raw_partner: _RawPartner, token_answer: bytes) -> None:
    """RecursionError and http.client's HTTPException escaped as a 500."""
    raw_partner.metadata()
    raw_partner.answers["/token"] = token_answer
    with pytest.raises(PartnerError):
        _exchange(app, raw_partner)


def test_a_token_endpoint_over_plain_http_elsewhere_is_refused(
        app: Flask, raw_partner: _RawPartner) -> None:
    """An https issuer's document may not send the code and the client secret over
    plain http (the tests' partner is on loopback, where http is allowed)."""
    raw_partner.metadata(token_endpoint="http://bank.example/token")
    with pytest.raises(PartnerError, match="https"):
        _exchange(app, raw_partner)
