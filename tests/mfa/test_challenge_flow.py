"""The second step of every sign-in (S10): TOTP with replay refused (S11), email codes
bound to the attempt (S12), and wrong or missing codes counted by the throttle (S7)."""

from __future__ import annotations

import threading

from idp import audit
from idp.sessions import FULL, PASSWORD
from mfa import events
from tests.helpers import (
    GOOD_PASSWORD,
    TEST_TOTP_SECRET,
    audit_events,
    body_of,
    create_account,
    csrf,
    current_totp,
    emailed_code,
    fresh_totp,
    get_account,
    outbox,
    pass_second_factor,
    sign_in,
)
from tests.mfa.flows import session_row
from tests.totp_reference import key_of
from tests.totp_reference import totp as reference_totp


def post_code(client, code: str):
    return client.post("/2fa/challenge", data={"csrf_token": csrf(client, "/2fa/challenge"),
                                               "code": code})


def wrong_code(app) -> str:
    return f"{(int(current_totp(app)) + 1) % 10**6:06d}"


def test_password_alone_grants_nothing_but_the_challenge_S10(app, client):
    create_account(app, "alice")
    sign_in(client, "alice")
    assert session_row(app, client).level == PASSWORD
    assert client.get("/account").status_code == 303
    assert client.get("/2fa/manage").status_code == 303


def test_totp_signs_in_and_lands_on_the_success_page_J9_S10(app, client, clock):
    create_account(app, "alice")
    sign_in(client, "alice")
    page = client.get("/2fa/challenge").get_data(as_text=True)
    assert 'autocomplete="one-time-code"' in page and "/2fa/recover" in page
    response = post_code(client, current_totp(app))
    assert response.headers["Location"] == "/2fa/done"
    row = session_row(app, client)
    assert (row.level, row.amr, row.auth_time) == (FULL, "pwd otp", clock.now())
    done = client.get("/2fa/done").get_data(as_text=True)
    assert "Authentication successful" in done
    success = audit_events(app, audit.LOGIN_SUCCESS)[-1]
    assert success.details == {"step": "second_factor", "method": "totp"}


def test_a_code_and_every_earlier_step_are_refused_afterwards_S11(app, clock):
    create_account(app, "alice")
    first = app.test_client()
    sign_in(first, "alice")
    code = current_totp(app)
    earlier = reference_totp(key_of(TEST_TOTP_SECRET), int(clock.now().timestamp()) - 30)
    assert post_code(first, code).status_code == 303

    second = app.test_client()
    sign_in(second, "alice")
    assert post_code(second, code).status_code == 401  # the same code again
    assert post_code(second, earlier).status_code == 401  # an earlier step, still in drift
    clock.advance(seconds=30)
    assert post_code(second, current_totp(app)).status_code == 303  # the next step is fine


def test_one_code_raced_by_two_sign_ins_passes_once_S11(app):
    create_account(app, "alice")
    clients = [app.test_client() for _ in range(2)]
    tokens = []
    for client in clients:
        sign_in(client, "alice")
        tokens.append(csrf(client, "/2fa/challenge"))
    code = current_totp(app)
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def submit(client, token) -> None:
        barrier.wait()
        statuses.append(client.post("/2fa/challenge",
                                    data={"csrf_token": token, "code": code}).status_code)

    workers = [threading.Thread(target=submit, args=pair) for pair in zip(clients, tokens, strict=True)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(statuses) == [303, 401]


def test_one_step_of_drift_is_accepted_two_are_not_S11(app, client, clock):
    create_account(app, "alice")
    sign_in(client, "alice")
    now = int(clock.now().timestamp())
    key = key_of(TEST_TOTP_SECRET)
    assert post_code(client, reference_totp(key, now + 60)).status_code == 401
    assert post_code(client, reference_totp(key, now - 60)).status_code == 401
    assert post_code(client, reference_totp(key, now + 30)).status_code == 303


def test_wrong_and_missing_codes_lock_the_step_S7_D4(app, client):
    """Five wrong or empty codes lock the second step for a while (J3's message); a
    correct password does not buy fresh guesses at the code."""
    create_account(app, "alice")
    sign_in(client, "alice")
    for typed in (wrong_code(app), "", wrong_code(app), "", wrong_code(app)):
        assert post_code(client, typed).status_code == 401
    locked = post_code(client, current_totp(app))
    assert locked.status_code == 429
    assert "Too many attempts" in locked.get_data(as_text=True)
    assert session_row(app, client).level == PASSWORD

    again = app.test_client()
    assert sign_in(again, "alice").status_code == 303  # the password step still works
    assert post_code(again, current_totp(app)).status_code == 429  # the code step does not
    tags = [e.tag for e in audit_events(app)]
    assert tags.count(events.FAILURE) == 5 and events.LOCKED in tags


def test_a_full_sign_in_clears_the_count(app, client, clock):
    create_account(app, "alice")
    sign_in(client, "alice")
    for _ in range(4):
        post_code(client, wrong_code(app))
    assert post_code(client, current_totp(app)).status_code == 303
    other = app.test_client()
    sign_in(other, "alice")
    for _ in range(4):
        assert post_code(other, wrong_code(app)).status_code == 401
    clock.advance(seconds=30)
    assert post_code(other, fresh_totp(app, "alice")).status_code == 303


def test_sign_in_restarts_the_inactivity_clock_only_after_the_code_D7(app, client, clock):
    created = clock.now()
    create_account(app, "alice")
    clock.advance(days=3)
    sign_in(client, "alice")
    assert get_account(app, "alice").last_used_at == created
    pass_second_factor(app, client)
    assert get_account(app, "alice").last_used_at == clock.now()


def test_a_deep_link_goes_straight_back_after_the_code(app, client):
    create_account(app, "alice")
    bounced = client.get("/2fa/manage")
    token = csrf(client, bounced.headers["Location"])  # the sign-in page keeps next
    client.post("/signin", data={"csrf_token": token, "username": "alice",
                                 "password": GOOD_PASSWORD})
    assert pass_second_factor(app, client).headers["Location"] == "/2fa/manage"


# --- email codes ---------------------------------------------------------------------


def email_account(app):
    return create_account(app, "alice", email_address="alice@example.com", confirmed=True,
                          second_factor="email")


def test_an_email_code_is_sent_for_this_sign_in_and_signs_in_S12(app, client):
    email_account(app)
    sign_in(client, "alice")
    assert client.get("/2fa/challenge").status_code == 200
    mail = outbox(app)[-1]
    assert mail["To"] == "alice@example.com" and "sign-in code" in body_of(mail)
    client.get("/2fa/challenge")
    assert len(outbox(app)) == 1  # a reload does not send another
    response = post_code(client, emailed_code(mail))
    assert response.headers["Location"] == "/2fa/done"
    assert session_row(app, client).amr == "pwd mail"


def test_an_email_code_is_bound_to_its_sign_in_attempt_S12(app, clock):
    """A code sent to one sign-in attempt does not pass another (a second device, or an
    attacker who started their own sign-in with the password)."""
    email_account(app)
    first = app.test_client()
    sign_in(first, "alice")
    first.get("/2fa/challenge")
    code = emailed_code(outbox(app)[-1])
    clock.advance(seconds=31)
    second = app.test_client()
    sign_in(second, "alice")
    second.get("/2fa/challenge")  # a new code for this attempt replaces the first
    assert len(outbox(app)) == 2
    assert post_code(first, code).status_code == 401
    assert post_code(first, emailed_code(outbox(app)[-1])).status_code == 401
    assert post_code(second, emailed_code(outbox(app)[-1])).status_code == 303


def test_a_new_code_kills_the_previous_one_and_resending_is_limited_S12(app, client, clock):
    email_account(app)
    sign_in(client, "alice")
    client.get("/2fa/challenge")
    old = emailed_code(outbox(app)[-1])
    token = csrf(client, "/2fa/challenge")
    too_soon = client.post("/2fa/challenge/resend", data={"csrf_token": token})
    assert too_soon.status_code == 429
    assert "Wait" in too_soon.get_data(as_text=True)
    assert len(outbox(app)) == 1
    clock.advance(seconds=30)
    resent = client.post("/2fa/challenge/resend", data={"csrf_token": token})
    assert resent.status_code == 200 and len(outbox(app)) == 2
    new = emailed_code(outbox(app)[-1])
    if new != old:
        assert post_code(client, old).status_code == 401
    assert post_code(client, new).status_code == 303


def test_an_expired_email_code_is_refused_S12(app, client, clock):
    email_account(app)
    sign_in(client, "alice")
    client.get("/2fa/challenge")
    code = emailed_code(outbox(app)[-1])
    clock.advance(minutes=10)
    response = post_code(client, code)
    assert response.status_code == 401
    assert "expired" in response.get_data(as_text=True)


def test_wrong_email_codes_count_toward_the_lock_S7(app, client):
    email_account(app)
    sign_in(client, "alice")
    client.get("/2fa/challenge")
    code = emailed_code(outbox(app)[-1])
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        assert post_code(client, wrong).status_code == 401
    assert post_code(client, code).status_code == 429
