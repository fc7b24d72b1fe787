"""/authorize builds Authlib's request once from plain values and its redirect in one
pass (issue 11, ``idp.oidc.authorize_request``, ``idp.oidc.response_location``), compared
with Authlib's own answers, and attacked: parameters repeated or smuggled in the
form, a body on a GET, plain http, odd redirect URIs and states, the refusal."""

from __future__ import annotations

import itertools
import urllib.parse
from urllib.parse import parse_qs, urlsplit

import pytest
from authlib.common.security import is_secure_transport
from authlib.common.urls import add_params_to_uri
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload
from authlib.oauth2.rfc6749 import OAuth2Request
from flask import Flask, request

from idp.oidc.authorize_request import AuthorizePayload, AuthorizeRequest, transport_is_secure
from idp.oidc.response_location import quote_plus, with_params
from tests.oidc.rp import RelyingParty, Request, register_client
from tests.oidc.test_issue11_authorize_one_read import _signed_in_at_consent
from tests.oidc.test_sign_in_handoff import untrusted
from tests.support.accounts import create_account
from tests.support.screens import csrf_from

ISSUER = "http://127.0.0.1:5000"

QUERIES = [
    "response_type=code&client_id=c&state=s",
    "client_id=a&client_id=b&scope=openid&scope=email",
    "state=&nonce=%00&x=%C3%BC&y=a+b&z=%E2%82%AC",
    "empty&only_key=&=no_key",
    "",
]
FORMS = [None, {}, {"csrf_token": "t", "decision": "allow"},
         {"client_id": "other", "state": "form", "decision": "deny"},
         {"redirect_uri": ["https://a/cb", "https://b/cb"], "new": "x"}]


@pytest.mark.parametrize(("query", "form", "method"),
                         list(itertools.product(QUERIES, FORMS, ["GET", "POST", "HEAD"])))
def test_the_payload_reads_as_authlibs_flask_adapter(app: Flask, query, form, method) -> None:
    """Every parameter's first value and its list of values, as ``request.values``:
    the query first, the form after it, a GET's body not at all."""
    with app.test_request_context(f"/authorize?{query}", method=method, data=form):
        theirs = FlaskOAuth2Payload(request)
        ours = AuthorizePayload(request.args.lists(),
                                request.form.lists() if request.method != "GET" else None)
        assert ours.data == {key: theirs.data.get(key) for key in theirs.data}
        assert dict(ours.datalist) == dict(theirs.datalist)
        for name in ("client_id", "response_type", "redirect_uri", "scope", "state"):
            assert getattr(ours, name) == getattr(theirs, name)
        assert ours.datalist.get("missing", []) == theirs.datalist.get("missing", [])


def test_the_request_has_every_attribute_of_authlibs_own(app: Flask) -> None:
    """The constructor sets what Authlib's ``OAuth2Request.__init__`` sets (a guard on
    Authlib's internals: a new attribute there fails here); ``uri`` is the full URL."""
    with app.test_request_context("/authorize?client_id=c", base_url="https://idp.example"):
        theirs = OAuth2Request("GET", request.url, headers=request.headers)
        payload = AuthorizePayload(request.args.lists(), None)
        ours = AuthorizeRequest("GET", "https://idp.example/", request.headers, payload,
                                lambda: request.url)
        assert set(vars(ours)) - {"_url"} == set(vars(theirs)) - {"uri"}
        for name in set(vars(theirs)) - {"uri", "payload", "headers"}:
            assert getattr(ours, name) == getattr(theirs, name), name
        assert ours.uri == theirs.uri == "https://idp.example/authorize?client_id=c"
        assert ours.payload.client_id == "c"


HOSTS = ["idp.example", "IDP.Example", "localhost", "LOCALHOST", "localhost:5000",
         "localhost.evil.example", "127.0.0.1", "127.0.0.1:8080", "127.1", "127.0.0.2",
         "[::1]", "[::1]:5000", "[::ffff:127.0.0.1]", "[2001:db8::1]", "10.0.0.1",
         "xn--n3h.net", "0", "evil.example:443", "a" * 300, ""]


@pytest.mark.parametrize(("scheme", "host"), list(itertools.product(["http", "https"], HOSTS)))
def test_the_origin_is_as_secure_as_authlib_finds_the_whole_url(app: Flask, scheme, host,
                                                                 monkeypatch) -> None:
    from idp.oidc.views import _origin

    monkeypatch.delenv("AUTHLIB_INSECURE_TRANSPORT", raising=False)
    environ = {"wsgi.url_scheme": scheme, "HTTP_HOST": host}
    with app.test_request_context("/authorize?client_id=c&x=%2F%3F%23", environ_overrides=environ):
        current = request._get_current_object()  # type: ignore[attr-defined]
        assert transport_is_secure(_origin(current)) is bool(is_secure_transport(request.url))
        monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
        assert transport_is_secure(_origin(current)) is True  # read each time, never kept


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_plain_http_to_another_host_gets_the_error_page_as_before(app: Flask, method) -> None:
    """InsecureTransportError is raised where Authlib raised it, inside the view's
    check: Clef's error page, no redirect, no code (the same answer as before)."""
    create_account(app, "alice")
    jobs = untrusted(app)
    browser, action, page = _signed_in_at_consent(app, jobs, "alice")
    form = {"csrf_token": csrf_from(page), "decision": "allow"}
    answer = browser.open(action, method=method, data=form if method == "POST" else None,
                          base_url="http://idp.example")
    assert answer.status_code == 400 and "Location" not in answer.headers
    assert "code" in jobs.callback(browser.post(action, data=form))  # over loopback: fine


REDIRECTS = ["https://jobs.example/cb", "https://jobs.example", "https://jobs.example/",
             "https://jobs.example:8443/a/b/c", "http://127.0.0.1:9000/cb",
             "https://jobs.example/cb?x=1", "https://jobs.example/cb?x=a%20b&y",
             "https://jobs.example/cb?", "https://jobs.example/cb#frag",
             "https://jobs.example/cb;params", "HTTPS://JOBS.example/cb",
             "https://user:pw@jobs.example/cb", "https://jobs.example/%7Euser/cb",
             "https://jobs.example/a+b/c=d&e", "com.example.app:/cb", "com.example.app://cb",
             "https://[2001:db8::1]/cb", "https://jobs.example/cb?iss=theirs"]
STATES = [None, "", "s", "a b", "x&y=z#w", "ü€", "%20+%2B", "'\"<>\\", "s" * 2_000]


@pytest.mark.parametrize(("uri", "state"), list(itertools.product(REDIRECTS, STATES)))
def test_the_redirect_is_authlibs_two_passes_in_one(uri, state) -> None:
    """Authlib's code response (``add_params_to_uri`` with code and state) then its
    RFC 9207 extension (``add_params_to_uri`` again with iss): the same string."""
    params = [("code", "Abc-_123")] + ([("state", state)] if state else [])
    theirs = add_params_to_uri(add_params_to_uri(uri, params), {"iss": ISSUER})
    assert with_params(uri, [*params, ("iss", ISSUER)]) == theirs


def test_quote_plus_is_urllibs_for_every_byte_and_beyond() -> None:
    samples = [chr(code) for code in range(256)] + ["ü€😀", "a b+c", "\u2028", "" , "%"]
    for value in samples:
        assert quote_plus(value) == urllib.parse.quote_plus(value), repr(value)


def _query(location: str) -> list[tuple[str, str]]:
    return urllib.parse.parse_qsl(urlsplit(location).query, keep_blank_values=True)


def test_the_code_is_sent_with_state_and_one_iss_and_a_refusal_with_them_too(app: Flask) -> None:
    """S38: ``iss`` once on the code's redirect (made by the grant) and once on the
    refusal (added by Authlib's extension), each with the request's ``state``."""
    create_account(app, "alice")
    jobs = untrusted(app)
    browser, action, page = _signed_in_at_consent(app, jobs, "alice")
    form = {"csrf_token": csrf_from(page), "decision": "allow"}
    state = parse_qs(urlsplit(action).query)["state"][0]
    refused = browser.post(action, data=dict(form, decision="deny"))
    assert [k for k, _ in _query(refused.headers["Location"])] == [
        "error", "error_description", "state", "iss"]
    assert dict(_query(refused.headers["Location"]))["state"] == state
    allowed = browser.post(action, data=form)
    location = allowed.headers["Location"]
    assert location.startswith("https://jobs.example/cb?code=")
    assert [k for k, _ in _query(location)] == ["code", "state", "iss"]
    assert dict(_query(location))["iss"] == ISSUER and dict(_query(location))["state"] == state


def test_a_registered_redirect_uri_with_a_query_keeps_it_and_gets_one_iss(app: Flask) -> None:
    """The slow path (Authlib's own function) through the view: the portal's query
    first, then code, state, iss; a query smuggled in the request's redirect_uri is
    another URI, refused with a page."""
    create_account(app, "alice")
    registered = "https://jobs.example/cb?tenant=a%20b&iss=theirs"
    client_id, secret = register_client(app, "--name", "Tenant portal", "--redirect-uri",
                                        registered)
    jobs = RelyingParty(app, client_id, secret, registered)
    browser, action, page = _signed_in_at_consent(app, jobs, "alice")
    form = {"csrf_token": csrf_from(page), "decision": "allow"}
    allowed = browser.post(action, data=form)
    pairs = _query(allowed.headers["Location"])
    assert [k for k, _ in pairs] == ["tenant", "iss", "code", "state", "iss"]
    assert pairs[0] == ("tenant", "a b") and pairs[-1] == ("iss", ISSUER)
    smuggled = action.replace("tenant%3Da", "tenant%3Dz")
    assert smuggled != action
    refused = browser.post(smuggled, data=form)
    assert refused.status_code == 400 and "Location" not in refused.headers


@pytest.mark.parametrize("field", ["client_id", "redirect_uri", "state", "scope", "response_type"])
def test_a_protocol_parameter_repeated_in_the_form_gets_no_code(app: Flask, field) -> None:
    """The consent form's body is read with the query (``request.values``): a second
    value of a protocol parameter (RFC 6749 §3.1) is refused, never taken instead of
    the query's, and no code is issued; the real answer works after it."""
    create_account(app, "alice")
    jobs = untrusted(app)
    browser, action, page = _signed_in_at_consent(app, jobs, "alice")
    form = {"csrf_token": csrf_from(page), "decision": "allow"}
    answer = browser.post(action, data=dict(form, **{field: "other"}))
    assert "code=" not in answer.headers.get("Location", "")
    assert answer.status_code in (302, 400)
    assert "code" in jobs.callback(browser.post(action, data=form))


def test_a_nonce_in_the_form_does_not_replace_the_querys_and_a_prompt_is_read(app: Flask) -> None:
    """Not protocol parameters Authlib counts: the query's value wins where it has one
    (the nonce: the code is issued for the query's); one the query lacks is read from
    the form, as ``request.values`` always did: ``prompt=none`` there answers
    ``consent_required`` and issues no code (only the person's own page can post it,
    with its CSRF token)."""
    create_account(app, "alice")
    jobs = untrusted(app)
    browser, action, page = _signed_in_at_consent(app, jobs, "alice")
    form = {"csrf_token": csrf_from(page), "decision": "allow"}
    refused = browser.post(action, data=dict(form, prompt="none"))
    assert jobs.callback(refused)["error"] == "consent_required"
    assert "code" in jobs.callback(browser.post(action, data=dict(form, nonce="from-the-form")))


def test_a_body_on_a_get_is_not_read(app: Flask) -> None:
    """A GET's body is no parameter (Werkzeug's ``values``): a client_id in it changes
    nothing, the consent page is shown for the query's portal."""
    create_account(app, "alice")
    jobs = untrusted(app)
    browser, action, _page = _signed_in_at_consent(app, jobs, "alice")
    page = browser.get(action, data={"client_id": "other", "redirect_uri": "https://evil/cb"})
    assert page.status_code == 200 and "Job bank" in page.get_data(as_text=True)


def test_a_huge_state_comes_back_whole_and_a_huge_parameter_is_no_500(app: Flask) -> None:
    create_account(app, "alice")
    jobs = untrusted(app)
    browser = app.test_client()
    req = Request(state="ü &=#" * 60)
    first = browser.get(jobs.authorize_url(req))
    from tests.support.screens import pass_second_factor, sign_in_at

    sign_in_at(browser, first.headers["Location"], "alice")
    action = pass_second_factor(app, browser, "alice").headers["Location"]
    page = browser.get(action)
    form = {"csrf_token": csrf_from(page), "decision": "allow"}
    allowed = browser.post(action, data=form)
    assert jobs.callback(allowed)["state"] == req.state
    odd = browser.get(jobs.authorize_url(Request(), ui_locales="x" * 50_000, extra="%" * 10_000))
    assert odd.status_code in (200, 302, 400)


def test_the_other_language_reads_ui_locales_from_the_request_once(app: Flask) -> None:
    """``ui_locales`` comes from the payload read once: the consent page in French,
    its answer a code with the same Location shape; a form's ``ui_locales`` does not
    outrank the query's."""
    create_account(app, "alice")
    jobs = untrusted(app)
    browser = app.test_client()
    from tests.support.screens import pass_second_factor, sign_in_at

    first = browser.get(jobs.authorize_url(Request(), ui_locales="fr-CA en"))
    sign_in_at(browser, first.headers["Location"], "alice")
    action = pass_second_factor(app, browser, "alice").headers["Location"]
    page = browser.get(action)
    assert '<html lang="fr">' in page.get_data(as_text=True)
    form = {"csrf_token": csrf_from(page), "decision": "allow", "ui_locales": "en"}
    allowed = browser.post(action, data=form)
    assert [k for k, _ in _query(allowed.headers["Location"])] == ["code", "state", "iss"]
