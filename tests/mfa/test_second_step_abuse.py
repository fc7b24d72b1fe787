"""The second step and the password step abused where issue 11 made them cheaper: the
lockout claim's upsert (now a Core statement on the table), the TOTP step claimed on
the session's connection, the factor's look-up built once, the account's language
written only when it changed.

Each test is an attack or a mistake: the same code twice (one after the other, and 10
sign-ins at once), another account's code, the step without the password, after
sign-out, after the lock, a wrong code counted exactly once."""

from __future__ import annotations

from idp.sessions import FULL, PASSWORD
from idp.throttle import PASSWORD_STEP
from mfa import events
from tests.at_once import at_once
from tests.helpers import (
    audit_events,
    create_account,
    csrf,
    current_totp,
    get_account,
    sign_in,
)
from tests.mfa.flows import factor_of, failures, post_code, session_row
from tests.support.records import writes_during
from tests.totp_reference import key_of
from tests.totp_reference import totp as reference_totp

# Another 160-bit secret: the code of someone else's app.
OTHER_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NO_IP_LIMIT = {"second_factor_per_ip": "10000/minute", "signin_per_ip": "10000/minute"}



def test_a_code_of_another_accounts_app_is_refused_and_counted_S11_S7(app):
    create_account(app, "alice")
    client = app.test_client()
    sign_in(client, "alice")
    now = int(app.extensions["clef"].clock.now().timestamp())
    others = reference_totp(key_of(OTHER_SECRET), now)
    assert others != current_totp(app)
    assert post_code(client, others).status_code == 401
    assert failures(app, "alice") == 1
    assert session_row(app, client).level == PASSWORD
    assert factor_of(app, "alice").last_totp_step is None  # no step was claimed


def test_the_same_code_twice_in_one_session_passes_once_S11(app):
    """After the first pass the session is signed in; a second sign-in in the same
    time step cannot reuse the code (the step is claimed in the database)."""
    create_account(app, "alice")
    client = app.test_client()
    sign_in(client, "alice")
    code = current_totp(app)
    assert post_code(client, code).status_code == 303
    step = factor_of(app, "alice").last_totp_step
    assert step is not None
    again = app.test_client()
    sign_in(again, "alice")
    assert post_code(again, code).status_code == 401
    assert factor_of(app, "alice").last_totp_step == step
    assert failures(app, "alice") == 1  # the refused replay counts as an attempt


def test_one_code_raced_by_ten_sign_ins_passes_once_S11(make_app):
    """Ten sessions that passed the password post the same code at once (real
    connections, one per thread): exactly one is signed in, nine are refused; the
    conditional UPDATE claims the step once."""
    app = make_app(rate_limit=NO_IP_LIMIT, lockout={"threshold": 100, "permanent_after": 200})
    create_account(app, "alice")
    clients = [app.test_client() for _ in range(10)]
    tokens = []
    for client in clients:
        assert sign_in(client, "alice").status_code == 303
        tokens.append(csrf(client, "/2fa/challenge"))
    code = current_totp(app)
    responses = at_once(10, lambda i: post_code(clients[i], code, tokens[i]))
    assert sorted(r.status_code for r in responses) == [303] + [401] * 9
    levels = sorted(session_row(app, c).level for c in clients)
    assert levels == [FULL] + [PASSWORD] * 9
    # Nine refused attempts counted; the winner cleared the count before they were
    # counted or after: either way no more than nine, and never a lost increment
    # that would let a racer pass.
    assert failures(app, "alice") <= 9
    assert [e.tag for e in audit_events(app)].count(events.FAILURE) == 9


def test_the_second_step_without_the_password_does_nothing_S10_S20(app):
    create_account(app, "alice")
    anonymous = app.test_client()
    token = csrf(anonymous, "/signin")  # a session of its own, with a form token
    sent = writes_during(app, lambda: anonymous.post(
        "/2fa/challenge", data={"csrf_token": token, "code": current_totp(app)}))
    assert sent == [], "no claim, no step, no audit row"
    response = anonymous.post("/2fa/challenge", data={"csrf_token": token,
                                                      "code": current_totp(app)})
    assert response.status_code == 303 and "/signin" in response.headers["Location"]
    assert failures(app, "alice") == 0
    assert factor_of(app, "alice").last_totp_step is None


def test_the_second_step_after_sign_out_does_nothing_S21(app):
    create_account(app, "alice")
    client = app.test_client()
    sign_in(client, "alice")
    token = csrf(client, "/2fa/challenge")
    cookie = client.get_cookie("clef_session").value
    signed_out = client.post("/signout", data={"csrf_token": token})
    assert signed_out.status_code == 303
    replay = app.test_client()
    replay.set_cookie("clef_session", cookie)  # the pending session's cookie, kept
    response = replay.post("/2fa/challenge", data={"csrf_token": token,
                                                   "code": current_totp(app)})
    assert response.status_code in (303, 400)
    assert "Location" not in response.headers or "/signin" in response.headers["Location"]
    assert failures(app, "alice") == 0
    assert factor_of(app, "alice").last_totp_step is None


def test_a_wrong_code_is_counted_exactly_once_S7_D4(app):
    create_account(app, "alice")
    client = app.test_client()
    sign_in(client, "alice")
    wrong = f"{(int(current_totp(app)) + 1) % 10**6:06d}"
    for expected in (1, 2, 3):
        assert post_code(client, wrong).status_code == 401
        assert failures(app, "alice") == expected
    assert [e.tag for e in audit_events(app)].count(events.FAILURE) == 3
    # The password step's count is its own: a correct password cleared it.
    assert failures(app, "alice", PASSWORD_STEP) == 0


def test_after_the_lock_the_right_code_is_not_even_checked_S7_D4(app):
    """Locked: the right code is refused, nothing is counted further and the TOTP step
    is not claimed (the code stays usable once the lock lifts)."""
    create_account(app, "alice")
    client = app.test_client()
    sign_in(client, "alice")
    threshold = app.extensions["clef"].settings.lockout.threshold
    wrong = f"{(int(current_totp(app)) + 1) % 10**6:06d}"
    for _ in range(threshold):
        assert post_code(client, wrong).status_code == 401
    assert failures(app, "alice") == threshold
    locked = post_code(client, current_totp(app))
    assert locked.status_code == 429
    assert failures(app, "alice") == threshold
    assert factor_of(app, "alice").last_totp_step is None
    assert session_row(app, client).level == PASSWORD
    assert events.LOCKED in [e.tag for e in audit_events(app)]


def test_the_language_is_written_only_when_it_changed_J5(app):
    """The account keeps the language of its last sign-in (mail in that language); the
    same language again writes nothing to the account."""
    create_account(app, "alice", locale="en")
    browser = app.test_client()
    sent = writes_during(app, lambda: sign_in(browser, "alice", **{"Accept-Language": "en"}))
    assert not [s for s in sent if s.startswith("UPDATE accounts")], sent
    assert get_account(app, "alice").locale == "en"
    sent = writes_during(app, lambda: sign_in(app.test_client(), "alice",
                                              **{"Accept-Language": "fr"}))
    assert len([s for s in sent if s.startswith("UPDATE accounts")]) == 1, sent
    assert get_account(app, "alice").locale == "fr"
