"""Issue 11: discovery and the JWKS answered in front of Flask (idp.oidc.published).

The shortcut must answer exactly what Flask would (same status, bytes and headers, the
security headers of S25 included), skip nothing that guards a request (the NUL guard,
S28; trusted hosts, S17; methods), never touch the database or a session, and follow a
key rotation (S42)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from werkzeug.test import Client

from idp import metrics
from idp.oidc.keys import JWKS_MEMORY
from idp.oidc.published import PublishedDocuments
from tests.helpers import run_cli
from tests.oidc.test_issue11_static_documents import counted, kids

DISCOVERY = "/.well-known/openid-configuration"
PATHS = (DISCOVERY, "/jwks")


def flask_only(app: Flask) -> Client:
    """A client of the same app without the shortcut: what Flask alone answers."""
    layer = app.wsgi_app
    assert isinstance(layer, PublishedDocuments)
    return Client(layer.app)


def comparable(response: Any) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = sorted((k, v) for k, v in response.headers.items() if k != "Date")
    return response.status_code, response.get_data(), headers


@pytest.mark.parametrize("path", PATHS)
def test_issue11_the_shortcut_answers_what_flask_answers(app: Flask, path: str) -> None:
    fast, slow = app.test_client(), flask_only(app)
    etag = fast.get(path).headers["ETag"]  # the first one is Flask's: it fills the memory
    asks: list[tuple[str, dict[str, str]]] = [
        ("GET", {}),
        ("HEAD", {}),
        ("GET", {"If-None-Match": etag}),
        ("HEAD", {"If-None-Match": etag}),
        ("GET", {"If-None-Match": f"W/{etag}"}),
        ("GET", {"If-None-Match": "*"}),
        ("GET", {"If-None-Match": f'"other", {etag}'}),
        ("GET", {"If-None-Match": '"stale-etag"'}),
        ("GET", {"If-None-Match": "junk \x7f,,\"\" W/ ;" + "x" * 5000}),
        ("GET", {"If-Modified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"}),
        ("GET", {"Range": "bytes=0-10"}),
        ("GET", {"Accept-Language": "fr"}),
    ]
    for method, headers in asks:
        answered = fast.open(path, method=method, headers=headers)
        expected = slow.open(path, method=method, headers=headers)
        assert comparable(answered) == comparable(expected), (method, headers)
        assert "Date" in answered.headers
    assert fast.get(path).headers["Content-Security-Policy"].startswith("default-src 'self'")


@pytest.mark.parametrize("path", PATHS)
def test_issue11_a_cookie_on_the_shortcut_reads_no_session_and_sets_none(app: Flask, path: str) -> None:
    """A browser sending its (here unknown, or expired) session cookie along: Flask's path
    read the sessions table for it; the documents are the same for everyone."""
    client = app.test_client()
    client.get(path)
    client.set_cookie("clef_session", "no-such-session")  # (a Cookie header is dropped by the client)
    client.set_cookie("clef_lang", "fr")
    with counted(app) as statements:
        response = client.get(path)
    assert statements == []
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "public, max-age=300"


@pytest.mark.parametrize("path", PATHS)
def test_issue11_s28_a_nul_byte_still_meets_the_input_guard(app: Flask, path: str) -> None:
    client = app.test_client()
    client.get(path)
    for ask in ({"query_string": "x=%00"}, {"query_string": "%00=1"},
                {"headers": {"User-Agent": "portal\x00lib"}},
                {"data": b"a=%00", "content_type": "application/x-www-form-urlencoded"}):
        refused = client.get(path, **ask)  # type: ignore[arg-type]
        assert refused.status_code == 400, ask
        assert refused.get_json()["error"] == "invalid_request"
        assert refused.headers["Cache-Control"] == "no-store"
        assert refused.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("path", PATHS)
def test_issue11_other_methods_and_odd_requests_still_go_to_flask(app: Flask, path: str) -> None:
    client = app.test_client()
    client.get(path)
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        response = client.open(path, method=method)
        assert response.status_code == 405, method
        assert response.headers["Cache-Control"] == "no-store"
    assert client.get(path, query_string="a=1").status_code == 200
    assert client.get(path + "/").status_code == 404
    assert client.get(path.upper()).status_code == 404
    # If-Match, If-Range: Flask's conditional rules decide, the same way as without the shortcut
    etag = client.get(path).headers["ETag"]
    for headers in ({"If-Match": etag, "If-None-Match": etag}, {"If-Match": '"other"'},
                    {"If-Range": etag, "Range": "bytes=0-3", "If-None-Match": etag}):
        assert comparable(client.get(path, headers=headers)) == comparable(
            flask_only(app).get(path, headers=headers)), headers


def test_issue11_s17_a_forged_host_gets_the_400_on_the_shortcut_too(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(service={"trusted_hosts": ["idp.example"]})
    client = app.test_client()
    for path in PATHS:
        assert client.get(path, headers={"Host": "idp.example"}).status_code == 200
        assert client.get(path, headers={"Host": "idp.example"}).status_code == 200
        forged = client.get(path, headers={"Host": "evil.example"})
        assert forged.status_code == 400, path
        assert b"evil.example" not in forged.get_data()


def test_issue11_s42_a_rotation_changes_the_served_bytes_and_etag(app: Flask, make_app, clock) -> None:  # type: ignore[no-untyped-def]
    """The shortcut serves the JWKS only while the copy in memory is fresh: a rotation in
    this process replaces it at once; one in another process once it has aged out, and
    the old ETag then gets the new keys, not a 304."""
    web = app.test_client()
    first = web.get("/jwks")
    old_etag = first.headers["ETag"]
    assert run_cli(app, "keys", "rotate").exit_code == 0
    rotated = web.get("/jwks", headers={"If-None-Match": old_etag})
    assert rotated.status_code == 200 and rotated.headers["ETag"] != old_etag
    assert len(kids(rotated)) == 4 and kids(first) < kids(rotated)
    assert web.get("/jwks", headers={"If-None-Match": rotated.headers["ETag"]}).status_code == 304
    assert run_cli(make_app(), "keys", "rotate").exit_code == 0  # another process
    with counted(app) as statements:
        assert len(kids(web.get("/jwks"))) == 4  # still this process's copy, no SQL
    assert statements == []
    clock.advance(seconds=JWKS_MEMORY.total_seconds())
    with counted(app) as statements:
        aged = web.get("/jwks", headers={"If-None-Match": rotated.headers["ETag"]})
    assert statements  # read again, by Flask's view
    assert aged.status_code == 200 and len(kids(aged)) == 6


def test_issue11_the_shortcut_is_timed_under_its_endpoint_name(app: Flask) -> None:
    client = app.test_client()
    client.get("/jwks")
    child = metrics.LATENCY.labels("oidc.jwks", "HEAD")
    before = child._sum.get(), sum(bucket.get() for bucket in child._buckets)
    client.head("/jwks")
    after = child._sum.get(), sum(bucket.get() for bucket in child._buckets)
    assert after[1] == before[1] + 1


def test_issue11_latency_labels_stay_a_fixed_vocabulary_whatever_the_method(app: Flask) -> None:
    """Any method a sender invents is counted as OTHER: the cache of histogram children
    (and the exposition) cannot be grown by requests."""
    client = app.test_client()
    client.get("/no-such-page")
    size = len(metrics._latency)
    for n in range(50):
        client.open("/no-such-page", method=f"X{n}")
        client.open("/jwks", method=f"Y{n}")
    assert len(metrics._latency) <= size + 2
