"""The web layer: cookie flags (S23), CSRF (S24), headers on every response (S25), no
open redirects (S26), client addresses behind proxies (S27), and error pages in both
languages without a stack trace (J5, S28)."""

from __future__ import annotations

import html
import logging
import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from idp.models import Account, AuditEvent, LoginThrottle
from idp.redirects import safe_next
from idp.views.common import after_sign_in_target
from tests.helpers import (
    GOOD_PASSWORD,
    audit_events,
    create_account,
    csrf,
    csrf_from,
    french,
    get_account,
    pass_second_factor,
)

HTTPS = {"service": {"base_url": "https://idp.example"}}
WRONG = "not the right password"


def _count(app, model) -> int:
    db = app.extensions["clef"].session_factory()
    try:
        return db.scalar(select(func.count()).select_from(model)) or 0
    finally:
        db.close()


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


# --- S23: cookie ------------------------------------------------------------------------


def test_cookie_on_https_is_host_prefixed_secure_httponly_lax_S23(make_app):
    app = make_app(**HTTPS)
    client = app.test_client()
    response = client.get("/signin", base_url="https://idp.example")
    cookie = response.headers["Set-Cookie"]
    name, _, attributes = cookie.partition(";")
    assert name.split("=")[0] == "__Host-clef_session"
    parts = {p.strip().split("=")[0].lower(): p.strip() for p in attributes.split(";")}
    assert "secure" in parts and "httponly" in parts
    assert parts["samesite"] == "SameSite=Lax"
    assert parts["path"] == "Path=/"
    assert "domain" not in parts  # required by __Host-
    assert "expires" not in parts and "max-age" not in parts  # ends with the browser


def test_cookie_renewed_on_https_keeps_the_flags_S23_S20(make_app):
    """On https the password post works without a Referer header (the browser sends
    none under no-referrer) and the renewed cookie keeps every flag."""
    app = make_app(**HTTPS)
    create_account(app, "alice")
    client = app.test_client()
    token = csrf_from(client.get("/signin", base_url="https://idp.example"))
    # No Referer: browsers send none, as our Referrer-Policy is no-referrer (S25).
    response = client.post("/signin", base_url="https://idp.example", data={
        "csrf_token": token, "username": "alice", "password": GOOD_PASSWORD})
    assert response.status_code == 303
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-clef_session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_plain_http_loopback_drops_secure_and_prefix_and_says_so_S23(make_app, caplog):
    with caplog.at_level(logging.WARNING, logger="clef"):
        app = make_app()
    assert "plain http" in caplog.text and "__Host-" in caplog.text
    cookie = app.test_client().get("/signin").headers["Set-Cookie"]
    assert cookie.startswith("clef_session=")
    assert "Secure" not in cookie
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie


def test_language_cookie_is_httponly_and_lax_S23(make_app):
    app = make_app(**HTTPS)
    cookie = app.test_client().get("/language/fr", base_url="https://idp.example").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


# --- S24: CSRF --------------------------------------------------------------------------


def test_sign_in_without_csrf_token_is_refused_and_not_counted_S24(app):
    create_account(app, "alice")
    client = app.test_client()
    client.get("/signin")
    response = client.post("/signin", data={"username": "alice", "password": GOOD_PASSWORD})
    assert response.status_code == 400
    assert "This form has expired or was sent from another page." in _text(response)
    assert "Location" not in response.headers
    assert _count(app, LoginThrottle) == 0
    assert _count(app, AuditEvent) == 1  # only the registration
    assert client.get("/2fa/challenge").status_code == 303


def test_sign_in_with_another_sessions_token_is_refused_S24(app):
    create_account(app, "alice")
    attacker = app.test_client()
    stolen = csrf(attacker, "/signin")
    victim = app.test_client()
    victim.get("/signin")
    response = victim.post("/signin", data={"csrf_token": stolen, "username": "alice",
                                            "password": WRONG})
    assert response.status_code == 400
    assert _count(app, LoginThrottle) == 0


def test_register_without_csrf_token_creates_nothing_S24(app):
    response = app.test_client().post("/register", data={
        "username": "mallory", "password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD})
    assert response.status_code == 400
    assert get_account(app, "mallory") is None
    assert _count(app, Account) == 0


@pytest.mark.parametrize("path", ["/signout", "/session/keepalive"])
def test_other_posts_need_the_token_too_S24(app, path):
    create_account(app, "alice")
    client = app.test_client()
    client.post("/signin", data={"csrf_token": csrf(client, "/signin"), "username": "alice",
                                 "password": GOOD_PASSWORD})
    pass_second_factor(app, client)
    assert client.post(path).status_code == 400
    assert client.get("/account").status_code == 200


def test_csrf_error_page_is_translated_S24_J5(app):
    client = app.test_client()
    response = client.post("/signin", data={"username": "a", "password": "b"},
                           headers={"Accept-Language": "fr"})
    body = _text(response)
    assert response.status_code == 400
    assert 'lang="fr"' in body
    message = ("This form has expired or was sent from another page. Go back, reload the page "
               "and try again.")
    translated = french(message)
    if translated is None:
        pytest.skip("the French catalogue has no translation of the CSRF message yet")
    assert translated in body
    assert message not in body


# --- S25: headers -----------------------------------------------------------------------


def _assert_security_headers(response, *, page: bool = True) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";") if d.strip()}
    assert directives.get("frame-ancestors") == "frame-ancestors 'none'", csp
    assert directives.get("object-src") == "object-src 'none'", csp
    assert directives.get("base-uri") == "base-uri 'none'", csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("Referrer-Policy") == "no-referrer"
    if page:
        assert "no-store" in response.headers.get("Cache-Control", "")


def _many_responses(app):
    create_account(app, "alice")
    client = app.test_client()
    token = csrf(client, "/signin")
    yield "home", client.get("/")
    yield "sign-in page", client.get("/signin")
    yield "register page", client.get("/register")
    yield "failed sign-in", client.post("/signin", data={"csrf_token": token, "username": "alice",
                                                         "password": WRONG})
    yield "csrf error", client.post("/signin", data={})
    yield "not found", client.get("/no-such-page")
    yield "method not allowed", client.get("/signout")
    yield "redirect", client.get("/account")
    yield "session expired", client.get("/session-expired")
    yield "sign-in redirect", client.post("/signin", data={
        "csrf_token": token, "username": "alice", "password": GOOD_PASSWORD})
    yield "second factor", client.get("/2fa/challenge")


def test_security_headers_on_every_response_S25(app):
    seen = 0
    for label, response in _many_responses(app):
        try:
            _assert_security_headers(response)
        except AssertionError as error:
            raise AssertionError(f"{label}: {error}") from error
        assert "Strict-Transport-Security" not in response.headers  # plain http
        seen += 1
    assert seen == 11


def test_static_files_have_the_headers_but_may_be_cached_S25(app):
    response = app.test_client().get("/static/clef.css")
    assert response.status_code == 200
    _assert_security_headers(response, page=False)
    assert "no-store" not in response.headers.get("Cache-Control", "")


def test_hsts_only_on_https_S25(make_app):
    app = make_app(**HTTPS)
    client = app.test_client()
    for path in ("/", "/signin", "/no-such-page", "/static/clef.css"):
        response = client.get(path, base_url="https://idp.example")
        hsts = response.headers.get("Strict-Transport-Security", "")
        assert hsts.startswith("max-age="), path
        assert int(hsts.split("=")[1].split(";")[0]) >= 31536000
        assert "includeSubDomains" in hsts


def test_rate_limited_response_has_headers_too_S25(make_app):
    app = make_app(rate_limit={"signin_per_ip": "1/minute"})
    client = app.test_client()
    token = csrf(client, "/signin")
    data = {"csrf_token": token, "username": "x1", "password": WRONG}
    client.post("/signin", data=data)
    limited = client.post("/signin", data=data)
    assert limited.status_code == 429
    _assert_security_headers(limited)


# --- S26: open redirects ----------------------------------------------------------------

HOSTILE = [
    "https://evil.example",
    "http://evil.example/account",
    "//evil.example",
    "//evil.example/account",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,hi",
    " /account",
    "/account\r\nLocation: https://evil.example",
    "/\t/evil.example",
    "evil.example",
    "",
]
LOCAL = ["/account", "/account?tab=sessions", "/authorize?client_id=a&state=b"]


@pytest.mark.parametrize("target", HOSTILE)
def test_hostile_next_is_dropped_S26(target):
    assert safe_next(target) is None


@pytest.mark.parametrize("target", LOCAL)
def test_local_next_is_kept_S26(target):
    assert safe_next(target) == target


@pytest.mark.parametrize("target", ["https://evil.example", "//evil.example", "/\\evil.example",
                                    "javascript:alert(1)"])
def test_sign_in_ignores_hostile_next_S26_J4(app, target):
    create_account(app, "alice")
    client = app.test_client()
    token = csrf_from(client.get("/signin", query_string={"next": target}))
    client.post("/signin", data={"csrf_token": token, "username": "alice",
                                 "password": GOOD_PASSWORD})
    pass_second_factor(app, client)
    with client:
        client.get("/2fa/challenge")
        assert after_sign_in_target() == "/account"


def test_sign_in_keeps_local_next_S26_J4(app):
    create_account(app, "alice")
    client = app.test_client()
    token = csrf_from(client.get("/signin", query_string={"next": "/account"}))
    client.post("/signin", data={"csrf_token": token, "username": "alice",
                                 "password": GOOD_PASSWORD})
    pass_second_factor(app, client)
    with client:
        client.get("/2fa/challenge")
        assert after_sign_in_target() == "/account"
        assert "next" not in __import__("flask").session


@pytest.mark.parametrize("target", HOSTILE[:5])
def test_language_toggle_does_not_redirect_off_site_S26(app, target):
    response = app.test_client().get("/language/fr", query_string={"next": target})
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert not location.netloc and location.path == "/"


def test_language_toggle_returns_to_a_local_page_S26(app):
    response = app.test_client().get("/language/fr", query_string={"next": "/register"})
    assert response.headers["Location"] == "/register"


@pytest.mark.parametrize("target", HOSTILE[:5])
def test_session_expired_link_drops_hostile_next_S26(app, target):
    body = _text(app.test_client().get("/session-expired", query_string={"next": target}))
    link = re.search(r'<a class="button" href="([^"]+)"', body).group(1)
    assert link == "/signin"  # "Sign in again", without the hostile next


# --- S27: client address ----------------------------------------------------------------


def _post_signin(client, token: str, username: str, **kwargs):
    return client.post("/signin", data={"csrf_token": token, "username": username,
                                        "password": WRONG}, **kwargs)


def test_forwarded_for_is_ignored_by_default_S27(make_app):
    """S27: with no trusted proxy, a forged X-Forwarded-For neither escapes the per-IP
    limit nor lands in the audit log."""
    app = make_app(rate_limit={"signin_per_ip": "3/minute"})
    client = app.test_client()
    token = csrf(client, "/signin")
    statuses = [_post_signin(client, token, f"user{i}",
                             headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
                for i in range(4)]
    assert statuses == [401, 401, 401, 429]
    ips = {event.ip for event in audit_events(app)}
    assert ips == {"127.0.0.1"}


def test_forwarded_for_honoured_behind_one_trusted_proxy_S27(make_app):
    app = make_app(rate_limit={"signin_per_ip": "3/minute", "trusted_proxies": 1})
    client = app.test_client()
    token = csrf(client, "/signin")
    # Many clients behind the one proxy: each gets its own limit.
    statuses = [_post_signin(client, token, f"user{i}",
                             headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
                for i in range(5)]
    assert statuses == [401] * 5
    # One client is limited, whatever it puts in front of the proxy's entry.
    same = [_post_signin(client, token, f"other{i}",
                         headers={"X-Forwarded-For": f"198.51.100.{i}, 192.0.2.50"}).status_code
            for i in range(4)]
    assert same == [401, 401, 401, 429]
    ips = {event.ip for event in audit_events(app)}
    assert "203.0.113.0" in ips and "192.0.2.50" in ips
    assert "127.0.0.1" not in ips and not any(ip.startswith("198.51.100.") for ip in ips)


# --- J5: error pages --------------------------------------------------------------------

ERRORS = {404: "Page not found", 405: "Action not allowed here", 500: "Technical difficulties"}


@pytest.fixture
def failing_app(make_app):
    app = make_app()

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals: /srv/clef/idp/views.py line 42")

    return app


def _error_responses(app, language: str):
    client = app.test_client()
    headers = {"Accept-Language": language}
    return {
        404: client.get("/no-such-page", headers=headers),
        405: client.get("/signout", headers=headers),
        500: client.get("/boom", headers=headers),
    }


def test_error_pages_in_english_without_stack_trace_J5_S28(failing_app):
    for code, response in _error_responses(failing_app, "en").items():
        body = _text(response)
        assert response.status_code == code
        assert 'lang="en"' in body
        assert f"<h1>{ERRORS[code]}</h1>" in body
        assert "Traceback" not in body and "secret internals" not in body
        assert "RuntimeError" not in body
        assert 'href="/"' in body  # a way on
        _assert_security_headers(response)


def test_error_pages_in_french_J5(failing_app):
    responses = _error_responses(failing_app, "fr")
    for code, response in responses.items():
        body = _text(response)
        assert response.status_code == code
        assert 'lang="fr"' in body
        assert "Traceback" not in body and "secret internals" not in body
    missing = [title for title in ERRORS.values() if french(title) is None]
    if missing:
        pytest.skip(f"the French catalogue lacks {missing}")
    for code, response in responses.items():
        body = _text(response)
        assert f"<h1>{french(ERRORS[code])}</h1>" in body
        assert ERRORS[code] not in body


def test_language_toggle_switches_error_pages_to_french_J5(failing_app):
    client = failing_app.test_client()
    client.get("/language/fr")
    body = _text(client.get("/no-such-page"))
    assert 'lang="fr"' in body
    translated = french("Page not found")
    if translated is not None:
        assert translated in body


def test_unexpected_error_is_logged_with_its_trace_J5_S28(failing_app, caplog):
    with caplog.at_level(logging.ERROR, logger="clef.errors"):
        failing_app.test_client().get("/boom")
    assert any(record.exc_info for record in caplog.records)


def test_trusted_hosts_refuse_a_forged_host_header_S17(make_app):
    """With service.trusted_hosts set, a request naming another Host gets the 400 page,
    so no link can ever be built from a forged Host."""
    app = make_app(service={"trusted_hosts": ["idp.example"]})
    client = app.test_client()
    assert client.get("/signin", headers={"Host": "idp.example"}).status_code == 200
    forged = client.get("/signin", headers={"Host": "evil.example"})
    assert forged.status_code == 400
    assert "Traceback" not in forged.get_data(as_text=True)


def test_an_error_page_that_cannot_be_drawn_falls_back_to_plain_bilingual_text_J5(
        app, monkeypatch):
    """J5, S28: if the error page itself fails (say the database is gone while the page
    asks for the session), the person still gets a bilingual page, never a trace."""
    import idp.errors

    def broken(*_args, **_kwargs):
        raise RuntimeError("database is gone")

    monkeypatch.setattr(idp.errors, "render_template", broken)
    response = app.test_client().get("/no-such-page")
    body = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "Error 404" in body and "Erreur 404" in body
    assert "database is gone" not in body and "Traceback" not in body
