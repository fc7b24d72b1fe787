"""S28: a wrong first code while setting up a factor is an authentication event and is
in the audit log (who, where, which method), without the code itself."""

from __future__ import annotations

from mfa import events
from tests.helpers import (
    audit_events,
    create_account,
    csrf,
    current_totp,
    emailed_code,
    outbox,
    register,
    shown_secret,
    sign_in,
)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_s28_a_wrong_code_while_setting_up_the_app_is_audited(app, client):
    register(client, "alice", **{"User-Agent": "Fuzzy/1.0"})
    setup = client.get("/2fa/setup/app")
    wrong = _wrong(current_totp(app, shown_secret(setup)))
    response = client.post("/2fa/setup/app", data={"csrf_token": csrf(client, "/2fa/setup/app"),
                                                    "code": wrong})
    assert response.status_code == 400
    [event] = audit_events(app, events.SETUP_FAILURE)
    assert event.actor == "alice" and event.account_id is not None
    assert event.details == {"method": "totp"}
    assert event.ip == "127.0.0.1"
    assert wrong not in repr(event.details)


def test_s28_an_empty_code_while_setting_up_the_app_is_audited_too(app, client):
    register(client, "alice")
    client.get("/2fa/setup/app")
    client.post("/2fa/setup/app", data={"csrf_token": csrf(client, "/2fa/setup/app"), "code": ""})
    assert len(audit_events(app, events.SETUP_FAILURE)) == 1


def test_s28_a_wrong_code_while_setting_up_email_codes_is_audited(app, client):
    create_account(app, "alice", email_address="alice@example.org", confirmed=True,
                   second_factor=None)
    sign_in(client, "alice")
    client.get("/2fa/setup/email")
    response = client.post("/2fa/setup/email", data={
        "csrf_token": csrf(client, "/2fa/setup/email"), "code": _wrong(emailed_code(outbox(app)[-1]))})
    assert response.status_code == 400
    [event] = audit_events(app, events.SETUP_FAILURE)
    assert event.actor == "alice" and event.details == {"method": "email"}
