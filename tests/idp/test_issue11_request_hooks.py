"""Issue 11: what every request pays, made cheaper without losing a guard.

The security headers are WSGI middleware now (S25), the NUL guard parses a query
string or a form only when one was sent (S28), Flask-Limiter's empty before-request
check is gone while every decorated limit still holds (S27), and the latency
histogram resolves its labels once."""

from __future__ import annotations

import html

import pytest
from flask import Flask
from flask_limiter import Limiter

from idp.input_guard import NUL_MESSAGE
from idp.ratelimit import _middleware_limits
from idp.security_headers import CSP, fixed_headers, with_security_headers
from tests.helpers import csrf

SECURITY = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy",
            "X-Frame-Options", "Cross-Origin-Opener-Policy")


def text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def once_each(response) -> None:  # type: ignore[no-untyped-def]
    for name in SECURITY:
        assert len(response.headers.getlist(name)) == 1, name
    assert response.headers["Content-Security-Policy"] == CSP


def test_issue11_s25_every_kind_of_response_gets_the_headers_once(app: Flask, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    for response in (client.get("/signin"), client.get("/no-such-page"),
                     client.open("/signin", method="BREW"), client.delete("/signin"),
                     client.post("/signin", data={"x": "y" * 70_000})):
        once_each(response)
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Pragma"] == "no-cache"
    static = client.get("/static/clef.css")
    once_each(static)
    assert "no-store" not in static.headers.get("Cache-Control", "")
    import idp.views.auth

    def broken(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug")

    monkeypatch.setattr(idp.views.auth, "render_template", broken)
    failed = client.get("/signin")
    assert failed.status_code == 500
    once_each(failed)
    assert failed.headers["Cache-Control"] == "no-store"


def test_issue11_s25_headers_an_app_set_are_replaced_not_doubled() -> None:
    fixed = fixed_headers(hsts=True)
    sent = [("Content-Type", "text/html"), ("content-security-policy", "default-src *"),
            ("X-Frame-Options", "ALLOWALL"), ("Cache-Control", "private"), ("Pragma", "x")]
    out = with_security_headers(sent, "/signin", hsts=True)
    names = [name.lower() for name, _ in out]
    assert len(names) == len(set(names))
    assert dict(out)["Content-Security-Policy"] == CSP and dict(out)["X-Frame-Options"] == "DENY"
    assert dict(out)["Cache-Control"] == "no-store" and dict(out)["Pragma"] == "no-cache"
    assert dict(out)["Strict-Transport-Security"].startswith("max-age=")
    assert set(fixed) <= set(out)


@pytest.mark.parametrize(("cache_control", "kept"), [
    ("public, max-age=300", True),
    ("max-age=60,PUBLIC", True),
    ("private, x-public=1", False),
    ("nopublic", False),
    ("no-cache", False),
])
def test_issue11_s25_only_a_public_directive_escapes_no_store(cache_control: str, kept: bool) -> None:
    out = dict(with_security_headers([("Cache-Control", cache_control)], "/x", hsts=False))
    assert (out["Cache-Control"] == cache_control) is kept
    assert ("Pragma" not in out) is kept
    assert "Strict-Transport-Security" not in out


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/x-www-form-urlencoded", "csrf_token={token}&username=a%00b&password=x"),
    ("application/x-www-form-urlencoded; charset=utf-8", "csrf_token={token}&username=a%00b"),
    ("Application/X-WWW-Form-Urlencoded", "csrf_token={token}&username=a%00b"),
    ("multipart/form-data; boundary=XyZ",
     '--XyZ\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
     '--XyZ\r\nContent-Disposition: form-data; name="username"\r\n\r\na\x00b\r\n--XyZ--\r\n'),
])
def test_issue11_s28_a_nul_in_any_form_body_is_still_refused(app: Flask, content_type: str,
                                                            body: str) -> None:
    client = app.test_client()
    sent = body.format(token=csrf(client, "/signin")).encode()
    response = client.post("/signin", data=sent, content_type=content_type)
    assert response.status_code == 400
    assert str(NUL_MESSAGE) in text(response)


def test_issue11_s28_a_nul_in_the_query_of_any_method_is_still_refused(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/no-such-page?a=%00").status_code == 400
    assert client.get("/signin?%00=1").status_code == 400
    assert client.head("/signin?a=b%00").status_code == 400
    token = csrf(client, "/signin")
    assert client.post("/signin?a=%00", data={"csrf_token": token, "username": "a"}).status_code == 400
    # a body that is not a form is never parsed as one, so a NUL in it is no field
    assert client.post("/signin", data=b"\x00", content_type="text/plain").status_code != 500


def test_issue11_s27_the_limiter_checks_only_where_a_limit_is_declared(app: Flask) -> None:
    """No default, application or blueprint limit: the extension's before-request check
    would find nothing, so it is not registered; the declared ones still refuse."""
    hooks = app.before_request_funcs[None]
    assert not any(getattr(h, "__func__", None) is Limiter._check_request_limit for h in hooks)
    assert not _middleware_limits(app)
    client = app.test_client()
    limit = int(app.config["CLEF_RATE_LIMITS"]["signin_per_ip"].split("/")[0])
    token = csrf(client, "/signin")
    codes = [client.post("/signin", data={"csrf_token": token, "username": f"nobody{n}",
                                          "password": "x"}).status_code
             for n in range(limit + 1)]
    assert codes[-1] == 429 and 429 not in codes[:limit]
