"""Issue 11: the refresh answered in front of Flask runs its one PostgreSQL statement
alone (``Tokens.rotate_refresh_alone_on``: marked ``idp.db.ALONE``, so the connection is
put in autocommit by ``idp.db``'s hook, not by an isolation level set at checkout and
reset at return) and reads back only the successor's scope.

Attacked: the autocommit never leaks into the next request's transaction on the same
pooled connection (a refused scope still rolls its claim back), the statement called
inside a transaction joins it instead of committing half of it, the successor's
scope is answered as the token view answers it; on both databases where the property exists on
both. A replay, another client's token, an ended session (tests/oidc/
test_issue11_refresh_fast_path.py) and twenty uses at once (tests/oidc/test_races.py)
go through the same statement."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from idp.oidc.models import OAuthToken
from idp.oidc.tokens import token_hash
from tests.helpers import create_account
from tests.oidc.conftest import Flow, full_flow
from tests.oidc.rp import RelyingParty
from tests.oidc.token_layer import Witness, layer_of, switch_of, trusted_portal

REFRESH = "refresh_token"


@pytest.fixture
def app(make_app: Any) -> Flask:
    """One pooled connection: every request of a test uses the same one."""
    return make_app(database={"pool_size": 1, "max_overflow": 0})


@pytest.fixture
def portal(app: Flask) -> RelyingParty:
    return trusted_portal(app)


@pytest.fixture
def flow(app: Flask, portal: RelyingParty) -> Flow:
    create_account(app, "alice")
    return full_flow(portal)


def refresh(portal: RelyingParty, token: str, **extra: str) -> Any:
    return portal.token(portal.app.test_client(),
                        {"grant_type": REFRESH, "refresh_token": token, **extra})


def row(app: Flask, token: str) -> OAuthToken | None:
    with app.extensions["clef"].session_factory() as db:
        found = db.scalars(select(OAuthToken).where(
            OAuthToken.refresh_token_hash == token_hash(token))).one_or_none()
        if found is not None:
            db.expunge(found)
        return found


def test_the_autocommit_never_reaches_the_next_requests_transaction(
        app: Flask, portal: RelyingParty, flow: Flow, witness: Witness) -> None:
    """After a refresh in front of Flask, the same pooled connection serves the token
    view's claim in a transaction: a scope it refuses after the claim rolls the claim
    back, so the token is still unused (a claim left in autocommit would be committed)."""
    first = refresh(portal, flow.tokens[REFRESH])
    assert first.status_code == 200 and witness.handed == 0
    token = first.get_json()[REFRESH]
    refused = refresh(portal, token, scope="openid admin")  # the layer hands it to Flask
    assert witness.handed == 1
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_scope"
    assert row(app, token).rotated_at is None
    again = refresh(portal, token)  # Flask's (a failed request drops the client's copy)
    assert again.status_code == 200 and witness.handed == 2
    last = refresh(portal, again.get_json()[REFRESH])
    assert last.status_code == 200 and witness.handed == 2


def test_no_isolation_level_is_set_or_reset(app: Flask, portal: RelyingParty, flow: Flow,
                                            witness: Witness,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The refresh's statement is put in autocommit per statement: no isolation level
    set at checkout and reset at return (the cost this module's statement removes); the
    answer and the stored successor are those of a committed statement all the same."""
    dialect = app.extensions["clef"].engine.dialect
    switched: list[str] = []
    for name in ("set_isolation_level", "reset_isolation_level"):
        original = getattr(dialect, name)
        monkeypatch.setattr(dialect, name, lambda *a, _n=name, _o=original: (
            switched.append(_n), _o(*a))[1])
    answer = refresh(portal, flow.tokens[REFRESH])
    assert answer.status_code == 200 and witness.handed == 0
    assert switched == []
    successor = row(app, answer.get_json()[REFRESH])
    assert successor is not None and successor.rotated_at is None
    assert row(app, flow.tokens[REFRESH]).rotated_at is not None


def test_inside_a_transaction_the_statement_joins_it(app: Flask, portal: RelyingParty,
                                                      flow: Flow, clock) -> None:
    """Marked to run alone, the statement still never commits a transaction it finds
    begun: it joins it, and a rollback takes back the claim and the successor."""
    core = app.extensions["clef"]
    if core.engine.dialect.name != "postgresql":
        pytest.skip("the one statement is PostgreSQL's (SQLite: claim and INSERT)")
    layer = layer_of(app)
    tokens = layer.refresher.tokens
    client = layer.refresher.clients.held(portal.client_id)
    assert client is not None
    now = clock.now()
    successor = tokens.generate(include_refresh_token=True)
    with core.engine.connect() as conn:
        conn.execute(update(OAuthToken.__table__).where(  # type: ignore[arg-type]
            OAuthToken.refresh_token_hash == "none").values(revoked_at=now))  # begins
        found = tokens.rotate_refresh_alone_on(conn, flow.tokens[REFRESH], client, now,
                                               now - timedelta(minutes=20), successor)
        assert found is not None and found.scope == "openid"
        conn.rollback()
    assert row(app, flow.tokens[REFRESH]).rotated_at is None
    assert row(app, successor[REFRESH]) is None
    assert refresh(portal, flow.tokens[REFRESH]).status_code == 200


def test_the_answers_scope_is_the_successors_own(
        app: Flask, portal: RelyingParty, flow: Flow, witness: Witness) -> None:
    """The answer's ``scope`` is the successor's own, read back from the statement, as
    the token view answers it: a family whose stored scope is not the usual one (set
    here in the database) is answered with that scope by both."""
    with app.extensions["clef"].session_factory() as db:
        db.execute(update(OAuthToken).values(scope="openid x"))
        db.commit()
    switch = switch_of(layer_of(app))
    switch(True)
    slow = refresh(portal, flow.tokens[REFRESH])
    switch(False)
    handed = witness.handed
    fast = refresh(portal, slow.get_json()[REFRESH])
    assert witness.handed == handed, "answered in front of Flask"
    assert fast.status_code == slow.status_code == 200
    assert fast.get_json()["scope"] == slow.get_json()["scope"] == "openid x"
    assert list(fast.get_json()) == list(slow.get_json())
    assert row(app, fast.get_json()[REFRESH]).scope == "openid x"
