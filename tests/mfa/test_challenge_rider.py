"""The challenge's factor and keys read with the session's row (issue 11,
``mfa.factors.CHALLENGE_RIDER``, ``idp.session_rows.Rider``): the same answer as the
challenge's own read for every kind of account, on the challenge's page only, for the
session's own account only, taken once; and abused: another person's account asked
for, an anonymous session, a factor changed between two requests, a code replayed
after the read carried its last step (the replay guard never trusts the read: S11)."""

from __future__ import annotations

from typing import Any

from flask import Flask

from idp import session_rows
from idp.sessions import session_id
from mfa.factors import CHALLENGE_PATH, CHALLENGE_RIDER
from mfa.models import SecondFactor
from mfa.runtime import EXTENSION_KEY
from tests.helpers import create_account, csrf, current_totp, sign_in
from tests.mfa.test_challenge_one_transaction import every_kind_of_account
from tests.support.records import session_token, statements_sent

COLUMNS = [c.key for c in SecondFactor.__table__.columns]


def _signed_key(app: Flask, username: str) -> str:
    """The session key of a fresh password step of ``username``."""
    client = app.test_client()
    sign_in(client, username)
    token = session_token(app, client)
    assert token is not None
    return session_id(token)


def _answer(challenge: Any) -> tuple[Any, ...]:
    factor, keys = challenge
    return (keys, None if factor is None else tuple(getattr(factor, c) for c in COLUMNS))


def test_the_rider_answers_as_the_challenges_own_read(app: Flask) -> None:
    """An app, email codes, no factor, keys alone or beside an app: what the session's
    read carried is what ``get_challenge`` reads alone, and no statement is sent for it."""
    ids = every_kind_of_account(app)
    svc = app.extensions["clef"]
    factors = app.extensions[EXTENSION_KEY].factors
    for username, account_id in ids.items():
        key = _signed_key(app, username)
        with svc.session_factory() as db:
            alone = _answer(factors.get_challenge(db, account_id))
        with svc.session_factory() as db:
            assert session_rows.read(db, key, CHALLENGE_RIDER) is not None
            with statements_sent(svc.engine) as sent:
                carried = factors.get_challenge(db, account_id)
            assert sent == [], username
            assert _answer(carried) == alone, username
            assert carried.factor is None or carried.factor not in db, "a copy, not in the session"
            # Taken once: asked again in the request, it is read afresh.
            with statements_sent(svc.engine) as sent:
                again = factors.get_challenge(db, account_id)
            assert len(sent) == 1 and _answer(again) == alone, username


def test_another_accounts_challenge_is_never_answered_from_the_rider(app: Flask) -> None:
    """Alice's session carried her factor; asked for Bob's, the read is Bob's own."""
    alice = create_account(app, "alice").id
    bob = create_account(app, "bob", email_address="bob@example.org", confirmed=True,
                         second_factor="email").id
    svc = app.extensions["clef"]
    factors = app.extensions[EXTENSION_KEY].factors
    key = _signed_key(app, "alice")
    with svc.session_factory() as db:
        session_rows.read(db, key, CHALLENGE_RIDER)
        with statements_sent(svc.engine) as sent:
            factor, _keys = factors.get_challenge(db, bob)
        assert len(sent) == 1
        assert factor is not None and factor.account_id == bob and factor.kind == "email"
        # Alice's values were dropped with that call, not left for a later one.
        with statements_sent(svc.engine) as sent:
            mine, _keys = factors.get_challenge(db, alice)
        assert len(sent) == 1 and mine is not None and mine.account_id == alice


def test_an_anonymous_session_carries_nothing(app: Flask) -> None:
    svc = app.extensions["clef"]
    with svc.session_factory() as db:
        key = session_id(svc.sessions.insert_anonymous(db, svc.clock.now(), {}))
        db.commit()
    with svc.session_factory() as db:
        row = session_rows.read(db, key, CHALLENGE_RIDER)
        assert row is not None and row.account_id is None
        assert session_rows.take_rider(db, CHALLENGE_RIDER, 1) is None


def test_only_the_challenge_page_reads_the_factor_with_its_session(app: Flask) -> None:
    """The rider is the challenge's: its GET and its POST carry it, other pages of the
    same signed-in session do not pay for its join."""
    create_account(app, "alice")
    client = app.test_client()
    sign_in(client, "alice")
    assert CHALLENGE_PATH == "/2fa/challenge"
    with app.test_request_context():
        from flask import url_for

        assert url_for("mfa.challenge") == CHALLENGE_PATH
    engine = app.extensions["clef"].engine
    with statements_sent(engine) as sent:
        page = client.get(CHALLENGE_PATH)
    assert page.status_code == 200
    assert len(sent) == 1 and "LEFT OUTER JOIN second_factors" in sent[0], sent
    with statements_sent(engine) as sent:
        client.get("/2fa/challenge/key")
    assert sent and all("second_factors" not in s for s in sent[:1]), sent


def test_a_factor_changed_between_two_requests_is_read_as_it_is_now(app: Flask) -> None:
    """The rider is read with each request's session, never kept from an earlier one:
    the page after the factor became email codes asks for an emailed code."""
    create_account(app, "alice", email_address="alice@example.org", confirmed=True)
    client = app.test_client()
    sign_in(client, "alice")
    assert "authenticator" in client.get(CHALLENGE_PATH).get_data(as_text=True).lower()
    svc = app.extensions["clef"]
    with svc.session_factory() as db:
        factor = db.scalars(SecondFactor.__table__.select()).first()
        assert factor is not None
        db.execute(SecondFactor.__table__.update().values(kind="email", totp_secret=None))
        db.commit()
    page = client.get(CHALLENGE_PATH).get_data(as_text=True).lower()
    assert "authenticator" not in page and "email" in page


def test_a_code_replayed_after_the_read_is_still_refused_S11(app: Flask) -> None:
    """Two tabs post the same code; each request's session read carried the factor's
    last step as it was. The first passes; the second, whose read may have carried the
    step before the first's claim, is refused by the conditional claim (S11)."""
    create_account(app, "alice")
    first, second = app.test_client(), app.test_client()
    sign_in(first, "alice")
    sign_in(second, "alice")
    tokens = csrf(first, CHALLENGE_PATH), csrf(second, CHALLENGE_PATH)
    code = current_totp(app)
    ok = first.post(CHALLENGE_PATH, data={"csrf_token": tokens[0], "code": code})
    replayed = second.post(CHALLENGE_PATH, data={"csrf_token": tokens[1], "code": code})
    assert ok.status_code == 303
    assert replayed.status_code == 401
