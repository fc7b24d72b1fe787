"""D9: a password reset restores the password, not fresh guesses (S7, D1, D4). A reset
by either route lifts the password-step lock only; the second-step count and lock and
the limit on wrong answers survive it. ``clef users unlock`` still clears both steps."""

from __future__ import annotations

from idp.throttle import PASSWORD_STEP, SECOND_FACTOR_STEP
from tests.helpers import (
    create_account,
    csrf,
    current_totp,
    get_account,
    run_cli,
    sign_in,
)
from tests.recovery.flows import (
    NEW_PASSWORD,
    last_code,
    post_code,
    post_new_password,
    post_question,
    post_questions,
    set_questions,
    start,
    text,
)

ADDRESS = "alice@example.org"


def _alice(app, email: bool = False):
    account = create_account(app, "alice", email_address=ADDRESS if email else None,
                             confirmed=email)
    set_questions(app, account.id)
    return account


def _post_totp(client, code: str):
    return client.post("/2fa/challenge", data={"csrf_token": csrf(client, "/2fa/challenge"),
                                               "code": code})


def _wrong_totp(app) -> str:
    return f"{(int(current_totp(app)) + 1) % 10**6:06d}"


def _counts(app) -> tuple[int, int]:
    svc = app.extensions["clef"]
    key = get_account(app, "alice").username_key
    with svc.session_factory() as db:
        return (svc.throttle.state(db, key, PASSWORD_STEP).failures,
                svc.throttle.state(db, key, SECOND_FACTOR_STEP).failures)


def _reset_by_questions(app, password: str = NEW_PASSWORD) -> None:
    client = app.test_client()
    start(client, "alice")
    assert post_questions(client).headers["Location"] == "/forgot-password/new"
    assert post_new_password(client, password).headers["Location"] == "/forgot-password/complete"


def test_d9_a_reset_by_questions_keeps_the_second_step_lock_S7(app):
    """The loop the review found: 5 wrong TOTP codes, reset by questions, 5 more."""
    _alice(app)
    client = app.test_client()
    sign_in(client, "alice")
    for _ in range(5):
        assert _post_totp(client, _wrong_totp(app)).status_code == 401
    assert _post_totp(client, current_totp(app)).status_code == 429
    sign_in(app.test_client(), "alice", "a wrong password here")
    assert _counts(app) == (1, 5)

    _reset_by_questions(app)

    assert _counts(app) == (0, 5)  # the password lock went; the code count stayed
    again = app.test_client()
    assert sign_in(again, "alice", NEW_PASSWORD).headers["Location"] == "/2fa/challenge"
    locked = _post_totp(again, current_totp(app))
    assert locked.status_code == 429 and "Too many attempts" in text(locked)


def test_d9_a_reset_by_emailed_code_keeps_the_second_step_count_S7(app):
    _alice(app, email=True)
    client = app.test_client()
    sign_in(client, "alice")
    for _ in range(4):
        assert _post_totp(client, _wrong_totp(app)).status_code == 401

    flow = app.test_client()
    start(flow, "alice")
    post_code(flow, last_code(app))
    assert post_question(flow).headers["Location"] == "/forgot-password/new"
    assert post_new_password(flow).status_code == 303

    assert _counts(app) == (0, 4)
    again = app.test_client()
    sign_in(again, "alice", NEW_PASSWORD)
    assert _post_totp(again, _wrong_totp(app)).status_code == 401  # the fifth: locks
    assert _post_totp(again, current_totp(app)).status_code == 429


def test_d9_the_answer_limit_survives_a_reset_D1(app):
    _alice(app)
    client = app.test_client()
    start(client, "alice")
    assert "2 tries left" in text(post_questions(client, "wrong"))
    _reset_by_questions(app)  # the second try, right: the reset goes on
    # The third try of the window: before D9 the reset had wiped the count ("2 tries
    # left"); now it is the last one, and wrong, so the questions are refused.
    after = app.test_client()
    start(after, "alice")
    refused = post_questions(after, "wrong")
    assert refused.status_code == 400 and "Too many wrong answers" in text(refused)
    assert "Too many wrong answers" in text(post_questions(after))


def test_d9_clef_users_unlock_still_clears_both_steps_D4(app):
    _alice(app)
    client = app.test_client()
    sign_in(client, "alice")
    for _ in range(5):
        _post_totp(client, _wrong_totp(app))
    assert _post_totp(client, current_totp(app)).status_code == 429
    result = run_cli(app, "users", "unlock", "alice")
    assert result.exit_code == 0 and "alice: unlocked" in result.output
    assert _counts(app) == (0, 0)
    assert _post_totp(client, current_totp(app)).status_code == 303
