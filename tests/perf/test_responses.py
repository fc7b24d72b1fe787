"""idp.responses: the final headers handed on as they are only where Werkzeug's own pass
(``get_wsgi_headers``, ``iri_to_uri``) gives the same list, byte for byte (issue 11)."""

from __future__ import annotations

import os
import random
import re
from typing import Any

import pytest
from flask import Response
from werkzeug.test import EnvironBuilder
from werkzeug.urls import iri_to_uri

from idp.responses import PLAIN_LOCATION, ClefResponse, plain_headers

ENVIRON = EnvironBuilder("/here", base_url="https://idp.example").get_environ()
HEAD = EnvironBuilder("/here", method="HEAD", base_url="https://idp.example").get_environ()

LOCATIONS = [
    "/2fa/challenge", "/", "/signin?next=/authorize?response_type%3Dcode%26scope%3Dopenid",
    "https://jobs.example/cb?code=8-Fc_yhdvo&state=s1&iss=http%3A%2F%2F127.0.0.1%3A5000",
    "http://portal.example/", "https://a-b.c.example/p;x=1/@!$'()*+,:=~?q=?a/b@c",
    # Werkzeug changes these (or refuses them): never handed on as they are.
    "//evil.example/x", "/a?", "/a#frag", "/a b", "/caf\u00e9", "/a?q=\u00e9", "/a\tb",
    "/a\\b", "/a?b c", "/a\"b", "/a<b>", "/a?x=%zz^", "https://EVIL.example/", "HTTPS://x.example/",
    "https://x.example", "https://x.example:443/", "https://x.example:0443/",
    "https://u:p@x.example/", "https://x..example/", "https://x.example./",
    "https://" + "a" * 64 + ".example/", "https://b\u00fccher.example/", "https://[::1]/",
    "javascript:alert(1)", "cb", "./cb", "?x=1", "", " /a", "/a\x00", "/\u2028",
    "https://x.example/a?", "https://x.example?q=1", "/a{b}", "/a|b", "/a`b",
]


def werkzeugs(response: Response, environ: dict[str, Any]) -> tuple[Any, ...]:
    """Werkzeug's answer, or the error it raises (a host ``idna`` refuses)."""
    try:
        app_iter, status, headers = Response.get_wsgi_response(response, environ)
    except UnicodeError as error:
        return ("raised", type(error))
    return b"".join(app_iter), status, headers


def clefs(response: Response, environ: dict[str, Any]) -> tuple[Any, ...]:
    try:
        app_iter, status, headers = response.get_wsgi_response(environ)
    except UnicodeError as error:
        return ("raised", type(error))
    return b"".join(app_iter), status, headers


@pytest.mark.parametrize("location", LOCATIONS)
def test_plain_location_is_what_iri_to_uri_leaves_unchanged(location: str) -> None:
    if PLAIN_LOCATION.fullmatch(location):
        assert iri_to_uri(location) == location
    assert PLAIN_LOCATION.fullmatch(location) or location in LOCATIONS[6:]


def test_plain_location_fuzzed_against_iri_to_uri() -> None:
    """Random strings over the characters that matter (the regex's, the URL's
    delimiters, upper case, space, ``#``, non-ASCII): whatever the regex calls plain,
    ``iri_to_uri`` hands back unchanged, without raising."""
    pick = random.Random(11)  # noqa: S311  (a repeatable test input, not a secret)
    alphabet = "aZ09-._~%!$&'()*+,/:;=@?#[] \t\"<>\\^`{|}\u00e9\u2603Hh"
    prefixes = ["/", "//", "http://", "https://", "https://x.example", "https://X.example",
                "https://x.example:1", "ftp://x/", ""]
    plain = 0
    for _ in range(60000):
        text = pick.choice(prefixes) + "".join(pick.choice(alphabet)
                                               for _ in range(pick.randint(0, 10)))
        if PLAIN_LOCATION.fullmatch(text):
            plain += 1
            assert iri_to_uri(text) == text, text
    assert plain > 1000  # the fuzzing reached the fast path


def _responses() -> list[Response]:
    made: list[Response] = []
    for location in LOCATIONS:
        for code in (302, 303):
            made.append(ClefResponse("Redirecting", code, headers={"Location": location}))
    for status in (100, 200, 204, 304, 404, 429, 500):
        made.append(ClefResponse("body", status, headers={"X-A": "1", "Cache-Control": "no-store"}))
    two = ClefResponse("x", 302)
    two.headers.add("Location", "/a")
    two.headers.add("location", "/b")
    made.append(two)
    lower = ClefResponse("x", 302)
    lower.headers.add("location", "/a")
    made.append(lower)
    made.append(ClefResponse("x", 200, headers={"Content-Location": "/caf\u00e9"}))
    streamed = ClefResponse(iter([b"a", b"b"]), 200)  # no Content-Length: Werkzeug's pass
    made.append(streamed)
    unset = ClefResponse("x", 200)
    del unset.headers["Content-Length"]  # Werkzeug's pass sets it
    made.append(unset)
    absolute = ClefResponse("x", 302, headers={"Location": "/a"})
    absolute.autocorrect_location_header = True
    made.append(absolute)
    return made


@pytest.mark.parametrize("environ", [ENVIRON, HEAD], ids=["GET", "HEAD"])
def test_same_answer_as_werkzeug(environ: dict[str, Any]) -> None:
    for one in _responses():
        clone = ClefResponse(one.response, one.status, headers=list(one.headers))
        clone.autocorrect_location_header = one.autocorrect_location_header
        if type(one.response) is not list:
            one.response = clone.response = [b"a", b"b"]
        assert clefs(one, dict(environ)) == werkzeugs(clone, dict(environ)), one.headers


def test_fast_path_taken_for_clefs_usual_answers() -> None:
    assert plain_headers(ClefResponse("page", 200)) is not None
    assert plain_headers(ClefResponse("x", 303, headers={"Location": "/2fa/challenge"})) is not None
    assert plain_headers(ClefResponse("x", 302, headers={"Location": LOCATIONS[3]})) is not None
    assert plain_headers(ClefResponse("x", 302, headers={"Location": "//evil.example/"})) is None


def test_handed_on_list_is_a_copy() -> None:
    """A middleware changing the list it is handed (security headers) does not change
    the response object."""
    response = ClefResponse("page", 200)
    _, _, headers = response.get_wsgi_response(dict(ENVIRON))
    headers.append(("X-Later", "1"))
    assert "X-Later" not in response.headers


def test_the_app_answers_with_it(app: Any) -> None:
    assert app.response_class is ClefResponse
    answer = app.test_client().get("/no-such-page")
    assert answer.status_code == 404
    assert answer.headers["Content-Length"] == str(len(answer.data))


# GET / and a 404 for a new visitor, calls per request (tests/perf/test_page_calls.py's
# count), the same on SQLite and PostgreSQL with Redis (no database read): 950 and 1,068
# before ClefResponse, (918) and (1,036) after.
BARE_PAGE_BUDGETS = {"/": 960, "/no-such-page": 1_080}


def test_bare_pages_calls(app: Any) -> None:
    """What every page pays beyond its own work: the home page and a 404, no session."""
    from tests.perf.test_page_calls import calls_per_request

    browser = app.test_client()
    counted = {target: calls_per_request(app, browser, target, target)
               for target in BARE_PAGE_BUDGETS}
    if os.environ.get("CLEF_PAGE_CALLS"):
        print(counted)
    over = {t: c for t, c in counted.items() if c > BARE_PAGE_BUDGETS[t]}
    assert not over, over


# A cookie's Expires is the clock's second plus Max-Age: two passes may straddle a second.
_EXPIRES = re.compile(r"Expires=[^;]*; ")


def _answers(app: Any, requests: list[tuple[str, dict[str, str]]]) -> list[tuple[Any, ...]]:
    """Each answer's status, headers (a cookie's Expires left out: its Max-Age stays)
    and body."""
    browser = app.test_client()
    found = []
    for target, headers in requests:
        answer = browser.get(target, headers=headers)
        found.append((answer.status, sorted((name, _EXPIRES.sub("", value))
                                            for name, value in answer.headers.items()),
                      answer.data))
    return found


def test_app_answers_as_with_werkzeugs_response(make_app: Any) -> None:
    """The app's answers, byte for byte, with ClefResponse and with Flask's own class:
    both languages, a portal's authorization request (a 303 to the sign-in page whose
    ``next`` is the request, percent-encoded), a ``next`` with non-ASCII and ``//``
    (an open-redirect attempt: refused the same), a 404, a Host outside the trusted
    ones (S17: refused the same)."""
    from tests.oidc.rp import Request
    from tests.oidc.test_sign_in_handoff import untrusted

    app = make_app(service={"trusted_hosts": ["localhost"]})
    authorize = untrusted(app).authorize_url(Request(), state="s\u00e9 //x", nonce="n1")
    requests = [
        ("/", {}), ("/", {"Accept-Language": "fr"}), ("/no-such-page", {"Accept-Language": "fr"}),
        (authorize, {}), (authorize, {"Accept-Language": "fr-CA"}),
        ("/language/fr?next=//evil.example/", {}), ("/language/en?next=/caf\u00e9?x=\u00e9", {}),
        ("/", {"Host": "evil.example"}), (authorize, {"Host": "evil.example"}),
    ]
    clefs_answers = _answers(app, requests)
    app.response_class = Response
    assert _answers(app, requests) == clefs_answers
    assert any(status.startswith("303") for status, _, _ in clefs_answers)
    assert any(status.startswith("400") for status, _, _ in clefs_answers)  # the untrusted Host
