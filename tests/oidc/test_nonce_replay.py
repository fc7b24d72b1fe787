"""A nonce is accepted once per portal (replayed authorization requests), looked up by
its hash through an index (issue 11), whatever its length."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.oidc.conftest import full_flow
from tests.oidc.rp import Request


def _error_of(response) -> str | None:
    query = parse_qs(urlsplit(response.headers.get("Location", "")).query)
    return query.get("error", [None])[0]


def test_s35_a_nonce_seen_before_is_refused_for_that_portal(portal, alice):
    first = full_flow(portal, req=Request(nonce="n-replayed"))
    replay = first.browser.get(portal.authorize_url(Request(nonce="n-replayed")))
    assert replay.status_code in (302, 303) and _error_of(replay) == "invalid_request"
    fresh = first.browser.get(portal.authorize_url(Request(nonce="n-new")))
    assert _error_of(fresh) is None


def test_a_long_nonce_is_stored_and_its_replay_refused(portal, alice):
    browser = full_flow(portal).browser  # signed in: the next requests come straight back
    long_nonce = "n" * 4000  # more than a B-tree entry on the text itself could hold
    issued = browser.get(portal.authorize_url(Request(nonce=long_nonce)))
    assert "code" in portal.callback(issued)
    replay = browser.get(portal.authorize_url(Request(nonce=long_nonce)))
    assert _error_of(replay) == "invalid_request"
