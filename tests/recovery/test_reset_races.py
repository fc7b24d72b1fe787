"""Races on forgot password (real connections, one per thread; PostgreSQL when
IDP_TEST_DATABASE_URL is set, SQLite always): one emailed reset code and one proven
step (the "verified" token of a flow) each redeemed 20 times at once. Exactly one wins."""

from __future__ import annotations

from sqlalchemy import select

from idp import audit
from idp.models import Account
from recovery.models import AnswerLimit
from tests.at_once import at_once, clones
from tests.helpers import audit_tags, create_account, csrf, get_account, sign_in
from tests.recovery.flows import last_code, post_code, post_question, set_questions, start

RACERS = 20


def _app(make_app):
    return make_app(rate_limit={"forgot_password_per_ip": "10000/minute"})


def _alice(app):
    account = create_account(app, "alice", email_address="alice@example.org", confirmed=True)
    set_questions(app, account.id)
    return account


def test_s16_one_reset_code_raced_20_times_passes_once(make_app):
    app = _app(make_app)
    _alice(app)
    client = app.test_client()
    start(client, "alice")
    code, token = last_code(app), csrf(client, "/forgot-password/code")
    racers = clones(app, client, RACERS)
    responses = at_once(RACERS, lambda i: racers[i].post(
        "/forgot-password/code", data={"csrf_token": token, "code": code}))
    seen = [(r.status_code, r.headers.get("Location")) for r in responses]
    assert seen.count((303, "/forgot-password/question")) == 1, seen
    # The others: "no code waiting", "too many attempts" once five have counted against
    # the username (D4), or (once the winner's step is in the session) the start again.
    refused = seen.count((400, None)) + seen.count((429, None))
    assert refused + seen.count((303, "/forgot-password?restart=expired")) == RACERS - 1, seen
    assert audit_tags(app).count(audit.EMAIL_CODE_FAILED) == refused


def test_one_reset_step_token_raced_20_times_sets_one_password_S15_S18(make_app):
    """Twenty tries of "set the new password" with one proven flow, each with its own
    password: one is set, the others are sent back to the start, and the reset ends the
    account's sessions once."""
    app = _app(make_app)
    _alice(app)
    client = app.test_client()
    start(client, "alice")
    post_code(client, last_code(app))
    assert post_question(client).headers["Location"] == "/forgot-password/new"
    token = csrf(client, "/forgot-password/new")
    racers = clones(app, client, RACERS)
    passwords = [f"a brand new passphrase number {i}" for i in range(RACERS)]
    responses = at_once(RACERS, lambda i: racers[i].post(
        "/forgot-password/new",
        data={"csrf_token": token, "password": passwords[i], "confirm": passwords[i]}))
    winners = [i for i, r in enumerate(responses)
               if r.headers.get("Location") == "/forgot-password/complete"]
    assert len(winners) == 1, [(r.status_code, r.headers.get("Location")) for r in responses]
    for i, response in enumerate(responses):
        if i not in winners:
            assert response.headers["Location"] == "/forgot-password?restart=expired"
    assert audit_tags(app).count(audit.RECOVERY_PASSWORD_RESET) == 1
    # The password is the winner's, and only the winner's.
    assert sign_in(app.test_client(), "alice", passwords[winners[0]]).status_code == 303
    loser = passwords[(winners[0] + 1) % RACERS]
    assert sign_in(app.test_client(), "alice", loser).status_code == 401
    with app.extensions["clef"].session_factory() as db:
        assert len(db.scalars(select(Account)).all()) == 1
    assert get_account(app, "alice") is not None


def test_d1_20_wrong_answers_at_once_count_exactly_to_the_limit(make_app):
    """The answer limit's claim is atomic too: of 20 concurrent wrong sets of answers,
    exactly ``answer_max_failures`` are checked; the rest are refused unchecked."""
    app = _app(make_app)
    _alice(app)
    client = app.test_client()
    start(client, "alice")
    token = csrf(client, "/forgot-password/questions")
    racers = clones(app, client, RACERS)
    responses = at_once(RACERS, lambda i: racers[i].post(
        "/forgot-password/questions", data={"csrf_token": token, "answer": f"wrong {i}",
                                            "person": "wrong", "memorable_date": "1999-01-01"}))
    assert {r.status_code for r in responses} == {400}
    limit = app.extensions["clef"].settings.recovery.answer_max_failures
    assert audit_tags(app).count(audit.RECOVERY_ANSWER_FAILED) == limit
    with app.extensions["clef"].session_factory() as db:
        (row,) = db.scalars(select(AnswerLimit)).all()
        assert row.failures == limit and row.blocked_until is not None
