"""Forgot password (J7) through the Flask test client, on both storage modes: the
email route and the questions route, the limits, and what a reset ends (S15-S19)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from idp import audit
from mfa.models import SecondFactor
from recovery.models import AnswerLimit, RecoveryQuestions, ResetFlow
from tests.helpers import (
    GOOD_PASSWORD,
    audit_events,
    audit_tags,
    body_of,
    create_account,
    get_account,
    outbox,
    pass_second_factor,
    run_cli,
    sign_in,
)
from tests.recovery.flows import (
    ANSWER,
    MEMORABLE,
    NEW_PASSWORD,
    PERSON,
    PERSON_HINT,
    QUESTION,
    last_code,
    other_than,
    post_code,
    post_new_password,
    post_question,
    post_questions,
    resend,
    set_questions,
    start,
    text,
)

ADDRESS = "alice@example.org"


def alice(app, questions: bool = True, email: bool = True):
    account = create_account(app, "alice", email_address=ADDRESS if email else None,
                             confirmed=email)
    if questions:
        set_questions(app, account.id)
    return account


def test_email_route_code_then_question_then_new_password_J7_S15_S18(app):
    account = alice(app)
    client = app.test_client()
    response = start(client, "Alice")
    assert response.status_code == 303
    assert response.headers["Location"] == "/forgot-password/code"
    page = text(client.get("/forgot-password/code"))
    assert "Step 2 of 4" in page
    (mail,) = outbox(app)
    assert mail["To"] == ADDRESS
    response = post_code(client, last_code(app))
    assert response.headers["Location"] == "/forgot-password/question"
    page = text(client.get("/forgot-password/question"))
    assert QUESTION in page and "My recovery answer" in page
    response = post_question(client, "  école   SAINTE-marie ")  # D1: normalised
    assert response.headers["Location"] == "/forgot-password/new"
    assert "Step 3 of 4" in text(client.get("/forgot-password/new"))
    response = post_new_password(client)
    assert response.status_code == 303
    assert response.headers["Location"] == "/forgot-password/complete"
    page = text(client.get("/forgot-password/complete"))
    assert "Completed" in page and "Step 4 of 4" in page
    # S15: nobody is signed in by a reset.
    assert client.get("/account").status_code == 303
    assert sign_in(app.test_client(), "alice", GOOD_PASSWORD).status_code == 401
    assert sign_in(app.test_client(), "alice", NEW_PASSWORD).headers["Location"] == "/2fa/challenge"
    # S18: the recovery email is told.
    notice = outbox(app)[-1]
    assert notice["To"] == ADDRESS
    assert "password was reset" in notice["Subject"]
    assert audit.RECOVERY_PASSWORD_RESET in audit_tags(app)
    assert get_account(app, "alice").password_hash != account.password_hash


def test_questions_route_three_answers_with_hints_above_each_field_J7_D1(app):
    alice(app, email=False)
    client = app.test_client()
    start(client, "alice")
    assert outbox(app) == []  # no recovery email: no code
    page = text(client.get("/forgot-password/questions"))
    for hint in (QUESTION, PERSON_HINT, "A summer trip"):
        assert hint in page
    # Each hint sits between its label and its field, and describes the field.
    assert page.index("My memorable person") < page.index(PERSON_HINT) < page.index('name="person"')
    response = post_questions(client, ANSWER.upper(), f"  {PERSON.lower()}  ", MEMORABLE)
    assert response.headers["Location"] == "/forgot-password/new"
    assert post_new_password(client).headers["Location"] == "/forgot-password/complete"
    assert sign_in(app.test_client(), "alice", NEW_PASSWORD).status_code == 303


def test_an_account_without_questions_goes_from_code_to_new_password(app):
    alice(app, questions=False)
    client = app.test_client()
    start(client, "alice")
    assert post_code(client, last_code(app)).headers["Location"] == "/forgot-password/new"


def test_reset_ends_every_session_clears_the_lock_and_keeps_the_second_factor_S15_S18_D4(
    make_app, clock
):
    app = make_app(lockout={"threshold": 2, "permanent_after": 3})
    account = alice(app)
    signed_in = app.test_client()
    sign_in(signed_in, "alice")
    pass_second_factor(app, signed_in)
    assert signed_in.get("/account").status_code == 200
    svc = app.extensions["clef"]  # alice has an authenticator app (create_account)
    for _ in range(2):
        sign_in(app.test_client(), "alice", "wrong password here")
    clock.advance(minutes=2)  # past the temporary lock; one more failure locks for good
    sign_in(app.test_client(), "alice", "wrong password here")
    locked = sign_in(app.test_client(), "alice", GOOD_PASSWORD)
    assert locked.status_code == 429 and "Reset your password" in text(locked)

    client = app.test_client()
    start(client, "alice")  # D4: the recovery path works while the account is locked
    post_code(client, last_code(app))
    post_question(client)
    assert post_new_password(client).status_code == 303

    assert signed_in.get("/account").status_code == 303  # S18: that session is gone
    assert sign_in(app.test_client(), "alice", NEW_PASSWORD).status_code == 303  # lock cleared
    with svc.session_factory() as db:
        assert db.get(SecondFactor, account.id) is not None  # S15: the factor stays


def test_code_expires_S16(app, clock):
    alice(app)
    client = app.test_client()
    start(client, "alice")
    code = last_code(app)
    clock.advance(minutes=10)
    assert "That code has expired" in text(post_code(client, code))
    assert "There is no code waiting" in text(post_code(client, code))


def _flow_codes(app) -> list[str | None]:
    """The code hash of every flow row (None: no live code)."""
    with app.extensions["clef"].session_factory() as db:
        return [row.code_hash for row in db.scalars(select(ResetFlow))]


def test_a_code_works_once_S16(app):
    alice(app)
    first = app.test_client()
    start(first, "alice")
    code = last_code(app)
    assert post_code(first, code).status_code == 303
    assert _flow_codes(app) == [None]  # used up
    second = app.test_client()
    start(second, "alice")  # a new flow sends a new code; the used one stays dead
    if last_code(app) != code:
        response = post_code(second, code)
        assert response.status_code == 400
        assert "That code is not correct" in text(response)


def test_a_new_code_kills_the_old_one_S16(app, clock):
    alice(app)
    client = app.test_client()
    start(client, "alice")
    old = last_code(app)
    assert resend(client).status_code == 429  # too soon
    clock.advance(seconds=31)
    assert resend(client).headers["Location"] == "/forgot-password/code?sent=1"
    new = last_code(app)
    assert len(outbox(app)) == 2
    if new != old:
        assert "not correct" in text(post_code(client, old))
    assert post_code(client, new).headers["Location"] == "/forgot-password/question"


def test_five_wrong_codes_restart_the_flow_S16(app):
    alice(app)
    client = app.test_client()
    start(client, "alice")
    code = last_code(app)
    for left in (4, 3, 2):
        assert f"{left} tries left" in text(post_code(client, other_than(code)))
    assert "1 try left" in text(post_code(client, other_than(code)))
    response = post_code(client, other_than(code))
    assert response.headers["Location"] == "/forgot-password?restart=codes"
    assert "Too many wrong codes" in text(client.get(response.headers["Location"]))
    assert client.get("/forgot-password/code").headers["Location"].startswith("/forgot-password?")
    assert _flow_codes(app) == [None]  # the code died with the flow


def test_questions_have_a_strict_per_account_limit_D1(app, clock):
    alice(app)
    client = app.test_client()
    start(client, "alice")
    assert "2 tries left" in text(post_questions(client, "wrong"))
    assert "1 try left" in text(post_questions(client, ANSWER, "wrong"))
    blocked = post_questions(client, ANSWER, PERSON, date(1999, 1, 1))
    assert blocked.status_code == 400 and "Too many wrong answers" in text(blocked)
    # Even the right answers are refused now, from any browser.
    other = app.test_client()
    start(other, "alice")
    refused = post_questions(other)
    assert "Too many wrong answers" in text(refused)
    # The email route's question counts against the same limit.
    post_code(other, last_code(app))
    assert "Too many wrong answers" in text(post_question(other))
    clock.advance(hours=24)
    fresh = app.test_client()
    start(fresh, "alice")
    assert post_questions(fresh).headers["Location"] == "/forgot-password/new"


def test_a_token_expires_and_a_newer_flow_supersedes_an_older_one(app, clock):
    alice(app)
    first = app.test_client()
    start(first, "alice")
    clock.advance(seconds=31)
    second = app.test_client()
    start(second, "alice")
    response = first.get("/forgot-password/code")
    assert response.headers["Location"] == "/forgot-password?restart=expired"
    assert second.get("/forgot-password/code").status_code == 200
    clock.advance(minutes=16)
    assert second.get("/forgot-password/code").headers["Location"] == "/forgot-password?restart=expired"


def test_a_finished_flow_cannot_be_replayed(app):
    alice(app)
    client = app.test_client()
    start(client, "alice")
    post_code(client, last_code(app))
    post_question(client)
    # Keep the "verified" token as it was before the reset finished.
    svc = app.extensions["clef"]
    from idp.models import WebSession
    from idp.sessions import session_id
    from tests.helpers import session_token

    with svc.session_factory() as db:
        record = db.get(WebSession, session_id(session_token(app, client)))
        verified = dict(record.data)["recovery.reset_token"]
    assert post_new_password(client).status_code == 303
    with app.test_request_context():
        from recovery.runtime import reset_service
        from recovery.tokens import VERIFIED, InvalidToken

        with svc.session_factory() as db:
            try:
                reset_service().flow(db, VERIFIED, verified)
            except InvalidToken:
                pass
            else:
                raise AssertionError("a finished flow's token still worked")
    assert client.get("/forgot-password/new").headers["Location"].startswith("/forgot-password?")


def test_new_password_follows_the_registration_policy_and_differs_from_the_current_S1_S2(app):
    alice(app)
    client = app.test_client()
    start(client, "alice")
    post_code(client, last_code(app))
    post_question(client)
    for password, confirm, reason in (
        ("short", None, "Use at least 8 characters."),
        ("password123", None, "one of the most common passwords"),
        ("alice in the spring garden", None, "must not contain your username"),
        (NEW_PASSWORD, "something else entirely", "The two passwords are not the same."),
        (GOOD_PASSWORD, None, "must be different from your current password"),
    ):
        response = post_new_password(client, password, confirm)
        assert response.status_code == 400
        assert reason in text(response)
    assert sign_in(app.test_client(), "alice", GOOD_PASSWORD).status_code == 303


def test_revoked_credential_gets_no_recovery_and_is_told_so_S19(app):
    account = alice(app)
    assert run_cli(app, "users", "revoke", "alice", "--reason", "compromised").exit_code == 0
    client = app.test_client()
    response = start(client, "alice")
    assert response.headers["Location"] == "/forgot-password/code"
    (notice,) = outbox(app)  # no code: a notice to the owner's recovery email
    assert notice["To"] == ADDRESS
    assert "revoked" in body_of(notice) and "register" in body_of(notice).lower()
    revoked = post_questions(client)
    assert revoked.status_code == 403
    assert "revoked" in text(revoked)
    assert client.get("/forgot-password/new").status_code == 303
    assert get_account(app, "alice").password_hash == account.password_hash
    assert audit.RECOVERY_RESET_REVOKED in audit_tags(app)


def test_answers_are_stored_only_as_hashes_D1(app):
    account = alice(app)
    svc = app.extensions["clef"]
    with svc.session_factory() as db:
        row = db.get(RecoveryQuestions, account.id)
        stored = " ".join((row.answer_hash, row.person_hash, row.date_hash))
    for secret in (ANSWER, PERSON, MEMORABLE.isoformat(), "sainte-marie", "tremblay"):
        assert secret.casefold() not in stored.casefold()
    assert row.answer_hash.startswith("$argon2id$")


def test_mail_links_use_the_configured_base_url_S17(make_app):
    app = make_app(service={"base_url": "https://signin.example.ca"})
    alice(app)
    client = app.test_client()
    start(client, "alice")
    post_code(client, last_code(app))
    post_question(client)
    post_new_password(client)
    body = body_of(outbox(app)[-1])
    assert "https://signin.example.ca/forgot-password" in body
    assert "localhost" not in body


def test_no_code_answer_or_password_reaches_the_log_or_the_audit_S28(app, caplog):
    alice(app)
    caplog.set_level("DEBUG")
    client = app.test_client()
    start(client, "alice")
    code = last_code(app)
    post_code(client, code)
    post_question(client)
    post_new_password(client)
    tags = audit_tags(app)
    for tag in (audit.RECOVERY_RESET_STARTED, audit.RECOVERY_VERIFIED,
                audit.RECOVERY_PASSWORD_RESET):
        assert tag in tags
    recorded = " ".join(str(e.details) for e in audit_events(app)) + caplog.text
    for secret in (code, ANSWER, NEW_PASSWORD, GOOD_PASSWORD):
        assert secret not in recorded


def test_dead_flows_and_old_answer_counts_do_not_pile_up(app, clock):
    client = app.test_client()
    for n in range(3):
        start(client, f"nobody-{n}")
        post_questions(client, "wrong")
    svc = app.extensions["clef"]
    with svc.session_factory() as db:
        assert len(db.scalars(select(ResetFlow)).all()) == 3
        assert len(db.scalars(select(AnswerLimit)).all()) == 3
    clock.advance(hours=25)
    start(client, "someone-else")
    with svc.session_factory() as db:
        assert len(db.scalars(select(ResetFlow)).all()) == 1
        assert db.scalars(select(AnswerLimit)).all() == []
