"""The token endpoint is limited per authenticated portal, not per address (issue 9
item 9, S27, S41): one portal's users do not share one address's budget, another
portal on the same address is unaffected, and requests that do not authenticate
still meet the per-address limit."""

from __future__ import annotations

import base64

from tests.oidc.conftest import CALLBACK
from tests.oidc.rp import RelyingParty, register_client

BOGUS = {"grant_type": "authorization_code", "code": "nope", "redirect_uri": CALLBACK}


def _portal(app, name: str) -> RelyingParty:
    client_id, secret = register_client(app, "--name", name, "--redirect-uri", CALLBACK)
    return RelyingParty(app, client_id, secret, CALLBACK)


def test_token_endpoint_limit_is_per_authenticated_client(make_app):
    app = make_app(rate_limit={"token_per_ip": "3/minute", "token_per_client": "5/minute"})
    first, second = _portal(app, "First"), _portal(app, "Second")
    server = app.test_client()  # every request comes from the same address
    statuses = [first.token(server, BOGUS).status_code for _ in range(6)]
    assert statuses == [400] * 5 + [429], "the first portal's own budget: 5, then limited"
    assert second.token(server, BOGUS).status_code == 400, "another portal is not affected"
    assert first.token(server, BOGUS, auth="post").status_code == 429  # both auth methods count

    # Unauthenticated requests (a wrong secret) meet the per-address limit instead.
    wrong = base64.b64encode(f"{first.client_id}:wrong".encode()).decode()
    headers = {"Authorization": "Basic " + wrong}
    guesses = [server.post("/token", data=BOGUS, headers=headers).status_code for _ in range(4)]
    assert guesses == [401, 401, 401, 429]
    assert second.token(server, BOGUS).status_code == 400, "guessing spends no portal's budget"


def test_malformed_client_credentials_are_a_4xx_not_a_500(app):
    server = app.test_client()
    for header in ("Basic !!!", "Basic " + base64.b64encode(b"\xff\xfe").decode(),
                   "Basic " + base64.b64encode(b"no-colon").decode(), "Basic " + "A" * 5000):
        response = server.post("/token", data=BOGUS, headers={"Authorization": header})
        assert 400 <= response.status_code < 500, header[:20]


def test_malformed_basic_credentials_on_revoke_and_introspect_are_401(app):
    server = app.test_client()
    header = {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:x").decode()}
    for path in ("/token", "/revoke", "/introspect"):
        response = server.post(path, data={"token": "x", **BOGUS}, headers=header)
        assert response.status_code == 401 and response.get_json() == {"error": "invalid_client"}


def test_one_limit_per_request_counts_against_one_budget_only(make_app):
    """Issue 11: one limit whose key and value follow the client authentication, in
    place of two decorators with exemptions. Attacked from both sides: an address that
    spent its whole budget on unauthenticated requests (a public client's id, a guessed
    secret, a client id naming a portal) does not block that portal, and the portal's
    requests spend none of the address's budget; each request is counted once."""
    app = make_app(rate_limit={"token_per_ip": "2/minute", "token_per_client": "3/minute"})
    portal = _portal(app, "Portal")
    server = app.test_client()
    public = {**BOGUS, "client_id": portal.client_id}  # names the portal, proves nothing
    assert [server.post("/token", data=public).status_code for _ in range(3)] == [401, 401, 429]
    forged = {**BOGUS, "client_id": "client:" + portal.client_id, "client_secret": "x"}
    assert server.post("/token", data=forged).status_code == 429, "per address, whatever it claims"
    assert [portal.token(server, BOGUS).status_code for _ in range(4)] == [400, 400, 400, 429]
    assert server.post("/token", data=public).status_code == 429, "still the address's budget"
