"""The inactivity sweep, ``clef users sweep-inactive`` (D7, J12, ASVS 6.4.5): credentials
unused for 730 days are revoked, after reminders 30 and 7 days before, each sent once
to the confirmed recovery email in the person's language."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask

from idp import audit
from idp.models import REVOKED
from tests.helpers import (
    audit_events,
    body_of,
    create_account,
    decoded_header,
    get_account,
    outbox,
    pass_second_factor,
    run_cli,
    session_token,
    sign_in,
)

ADMIN = "admin:opal"


@pytest.fixture(autouse=True)
def os_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNAME", "opal")


def sweep(app: Flask, *args: str) -> list[str]:
    result = run_cli(app, "users", "sweep-inactive", *args)
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def backdate(app: Flask, username: str, days: int) -> None:
    """Pretend the last sign-in was ``days`` ago (without moving everyone's clock)."""
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        account = svc.accounts.get_by_username(db, username)
        account.last_used_at = svc.clock.now() - timedelta(days=days)
        db.commit()
    finally:
        db.close()


def test_defaults_are_730_days_with_reminders_at_30_and_7_D7(app):
    settings = app.extensions["clef"].settings.revocation
    assert settings.inactive_days == 730
    assert settings.reminder_days == (30, 7)


def test_reminders_at_30_and_7_days_each_sent_once_then_revocation_D7(app, clock):
    create_account(app, "alice", email_address="alice@example.com", confirmed=True)

    clock.advance(days=699)
    assert sweep(app)[-1] == "0 reminder(s) and 0 revocation(s) were made"

    clock.advance(days=1)  # 700 days unused: 30 left
    assert sweep(app) == ["remind alice: 30 day(s) left",
                          "1 reminder(s) and 0 revocation(s) were made"]
    assert sweep(app)[-1] == "0 reminder(s) and 0 revocation(s) were made"  # once
    clock.advance(days=15)
    assert sweep(app)[-1] == "0 reminder(s) and 0 revocation(s) were made"
    assert get_account(app, "alice").reminder_sent_days == 30

    clock.advance(days=8)  # 723 days: 7 left
    assert sweep(app)[0] == "remind alice: 7 day(s) left"
    assert sweep(app)[-1] == "0 reminder(s) and 0 revocation(s) were made"

    clock.advance(days=6)  # 729 days: still active
    assert sweep(app)[-1] == "0 reminder(s) and 0 revocation(s) were made"
    assert get_account(app, "alice").status == "active"

    clock.advance(days=1)  # 730 days: revoked
    lines = sweep(app)
    assert lines == ["revoke alice: unused since 2026-01-05",
                     "0 reminder(s) and 1 revocation(s) were made"]
    account = get_account(app, "alice")
    assert (account.status, account.revoked_reason) == (REVOKED, "inactive")
    assert account.revoked_at == clock.now()

    mails = outbox(app)
    assert [m["Subject"] for m in mails] == [
        "Your Clef username will be revoked in 30 days",
        "Your Clef username will be revoked in 7 days",
    ]
    assert {m["To"] for m in mails} == {"alice@example.com"}
    reminders = audit_events(app, audit.ADMIN_INACTIVE_REMINDER)
    assert [(e.actor, e.details["days_left"], e.details["emailed"]) for e in reminders] == [
        (ADMIN, 30, True), (ADMIN, 7, True),
    ]
    revoked = audit_events(app, audit.ADMIN_INACTIVE_REVOKE)
    assert [(e.actor, e.account_id) for e in revoked] == [(ADMIN, account.id)]


def test_reminder_mail_says_what_happens_and_links_to_sign_in_ASVS_6_4_5(app, clock):
    create_account(app, "alice", email_address="alice@example.com", confirmed=True)
    clock.advance(days=700)
    sweep(app)

    (mail,) = outbox(app)
    body = body_of(mail)
    assert "Hello alice," in body
    assert "sign in within 30 days" in body
    assert "http://127.0.0.1:5000/signin" in body
    assert "register again" in body
    assert mail["Auto-Submitted"] == "auto-generated"


def test_reminder_in_french_for_a_french_account_D7(app, clock):
    """J5, D7: the reminder reaches a French account in French, an English one in English."""
    create_account(app, "amelie", email_address="amelie@example.com", confirmed=True,
                   locale="fr")
    create_account(app, "bob", email_address="bob@example.com", confirmed=True)
    clock.advance(days=700)
    sweep(app)

    mails = {m["To"]: m for m in outbox(app)}
    subject = decoded_header(mails["amelie@example.com"], "Subject")
    assert subject == "Votre nom d'utilisateur de Clef sera révoqué dans 30 jours"
    assert "Bonjour amelie," in body_of(mails["amelie@example.com"])
    assert mails["bob@example.com"]["Subject"] == "Your Clef username will be revoked in 30 days"


def test_no_mail_without_a_confirmed_address_but_still_recorded_D7(app, clock):
    """Only a confirmed recovery email is written to; the reminder step is still marked
    (so it is not retried daily) and the audit row says nothing was emailed."""
    create_account(app, "unconfirmed", email_address="maybe@example.com")
    create_account(app, "nomail")
    clock.advance(days=700)

    lines = sweep(app)

    assert lines[-1] == "2 reminder(s) and 0 revocation(s) were made"
    assert outbox(app) == []
    assert get_account(app, "unconfirmed").reminder_sent_days == 30
    assert [e.details["emailed"] for e in audit_events(app, audit.ADMIN_INACTIVE_REMINDER)] == [
        False, False,
    ]


def test_late_first_sweep_sends_only_the_nearest_reminder_once(app, clock):
    create_account(app, "alice", email_address="alice@example.com", confirmed=True)
    clock.advance(days=725)  # the 30-day step was missed: 5 left, but notice is 7 days
    assert sweep(app)[0] == "remind alice: 7 day(s) left"
    clock.advance(days=6)  # day 731: past the limit, the notice not yet run out
    assert sweep(app)[-1] == "0 reminder(s) and 0 revocation(s) were made"
    assert len(outbox(app)) == 1
    assert get_account(app, "alice").reminder_sent_days == 7
    clock.advance(days=1)
    assert sweep(app)[0] == "revoke alice: unused since 2026-01-05"


def test_first_sweep_on_old_data_warns_before_it_revokes_D7_ASVS_6_4_5(app, clock):
    """Someone who can be written to is never revoked without the final notice, even
    when the sweep first runs long after the limit; someone who cannot is revoked."""
    create_account(app, "warned", email_address="warned@example.com", confirmed=True)
    create_account(app, "silent")
    clock.advance(days=900)

    assert sweep(app) == ["remind warned: 7 day(s) left", "revoke silent: unused since 2026-01-05",
                          "1 reminder(s) and 1 revocation(s) were made"]
    assert [m["To"] for m in outbox(app)] == ["warned@example.com"]
    clock.advance(days=6, hours=23)
    assert sweep(app)[-1] == "0 reminder(s) and 0 revocation(s) were made"
    clock.advance(hours=1)
    assert sweep(app)[0] == "revoke warned: unused since 2026-01-05"
    assert get_account(app, "warned").status == REVOKED


def test_revocation_ends_every_session_at_once_D7_S21(app, clock):
    create_account(app, "alice")
    create_account(app, "bob")
    alice, bob = app.test_client(), app.test_client()
    assert sign_in(alice, "alice").status_code == 303
    assert sign_in(bob, "bob").status_code == 303
    backdate(app, "alice", 731)  # signed in just now in this story, unused in the database

    assert sweep(app)[-1] == "0 reminder(s) and 1 revocation(s) were made"

    assert alice.get("/2fa/challenge").status_code == 303  # anonymous: back to sign-in
    assert bob.get("/2fa/challenge").status_code == 200
    event = audit_events(app, audit.ADMIN_INACTIVE_REVOKE)[-1]
    assert event.details == {"sessions_ended": 1}


def test_inactive_revocation_is_final_J12(app, clock):
    """Revoked for inactivity: the right password gets the "register again" page."""
    create_account(app, "alice")
    clock.advance(days=730)
    sweep(app)
    response = sign_in(app.test_client(), "alice")
    assert response.status_code == 403
    assert "Username and password revoked" in response.get_data(as_text=True)
    clock.advance(days=800)
    assert sweep(app)[-1] == "0 reminder(s) and 0 revocation(s) were made"  # not again


def test_dry_run_changes_nothing_D7(app, clock):
    create_account(app, "old")  # no address to warn: revoked at the limit
    clock.advance(days=30)
    create_account(app, "due", email_address="due@example.com", confirmed=True)
    clock.advance(days=700)  # old: 730 days unused; due: 700
    before = len(audit_events(app))

    lines = sweep(app, "--dry-run")

    assert lines == [
        "remind due: 30 day(s) left",
        "revoke old: unused since 2026-01-05",
        "1 reminder(s) and 1 revocation(s) would be made",
    ]
    assert outbox(app) == []
    assert len(audit_events(app)) == before
    old, due = get_account(app, "old"), get_account(app, "due")
    assert (old.status, old.reminder_sent_days) == ("active", None)
    assert (due.status, due.reminder_sent_days) == ("active", None)
    assert sweep(app)[-1] == "1 reminder(s) and 1 revocation(s) were made"  # still due


def test_days_override_D7(app, clock):
    create_account(app, "alice", email_address="alice@example.com", confirmed=True)
    clock.advance(days=70)
    assert sweep(app)[-1] == "0 reminder(s) and 0 revocation(s) were made"  # default limit
    assert sweep(app, "--days", "100") == ["remind alice: 30 day(s) left",
                                           "1 reminder(s) and 0 revocation(s) were made"]
    clock.advance(days=30)  # the 7-day step was missed: the final notice goes out first
    assert sweep(app, "--days", "100")[0] == "remind alice: 7 day(s) left"
    clock.advance(days=7)
    assert sweep(app, "--days", "100")[0] == "revoke alice: unused since 2026-01-05"
    assert get_account(app, "alice").status == REVOKED


def test_days_must_be_positive(app):
    """``--days 0`` would otherwise mean something; it is refused, not taken as default."""
    create_account(app, "alice")
    result = run_cli(app, "users", "sweep-inactive", "--days", "0")
    assert result.exit_code == 2
    assert get_account(app, "alice").status == "active"


def test_configured_limit_is_used(make_app, clock):
    app = make_app(revocation={"inactive_days": 365, "reminder_days": [14]})
    create_account(app, "alice", email_address="alice@example.com", confirmed=True)
    clock.advance(days=351)
    assert sweep(app)[0] == "remind alice: 14 day(s) left"
    clock.advance(days=14)
    assert sweep(app)[0] == "revoke alice: unused since 2026-01-05"


def test_sign_in_restarts_the_inactivity_clock_D7(app, client, clock):
    """A successful sign-in (both factors: the password alone is not one) sets
    last_used_at and forgets the reminders sent."""
    create_account(app, "alice", email_address="alice@example.com", confirmed=True)
    clock.advance(days=700)
    sweep(app)
    assert get_account(app, "alice").reminder_sent_days == 30
    signed_in_at = clock.advance(days=1)

    assert sign_in(client, "alice").status_code == 303
    assert get_account(app, "alice").reminder_sent_days == 30  # the password alone: not yet
    pass_second_factor(app, client)

    account = get_account(app, "alice")
    assert account.last_used_at == signed_in_at
    assert account.reminder_sent_days is None
    assert account.reminder_sent_at is None
    clock.advance(days=40)  # 741 days after registration, 40 after the sign-in
    assert sweep(app)[-1] == "0 reminder(s) and 0 revocation(s) were made"
    assert get_account(app, "alice").status == "active"
    clock.advance(days=660)  # 700 after the sign-in: reminded again from the start
    assert sweep(app)[0] == "remind alice: 30 day(s) left"


def test_failed_or_revoked_sign_in_does_not_restart_the_clock_D7(app, client, clock):
    create_account(app, "alice")
    registered_at = clock.now()
    clock.advance(days=10)
    assert sign_in(client, "alice", "not the right password").status_code == 401
    assert get_account(app, "alice").last_used_at == registered_at
    run_cli(app, "users", "revoke", "alice", "--reason", "other")
    clock.advance(days=1)
    assert sign_in(client, "alice").status_code == 403
    assert get_account(app, "alice").last_used_at == registered_at
    assert session_token(app, client) is None or client.get("/2fa/challenge").status_code == 303



def test_a_sign_in_soon_after_another_leaves_the_last_use_D7(app, clock):
    """Issue 11: a last use within the hour is not written again (D7 counts days); an
    older one is, and a reminder sent is withdrawn whatever the last use."""
    from idp.accounts import LAST_USE_PRECISION

    create_account(app, "alice")
    first = app.test_client()
    assert sign_in(first, "alice").status_code == 303
    pass_second_factor(app, first)
    used_at = get_account(app, "alice").last_used_at
    clock.advance(seconds=LAST_USE_PRECISION.total_seconds() - 60)
    second = app.test_client()
    assert sign_in(second, "alice").status_code == 303
    pass_second_factor(app, second)
    assert get_account(app, "alice").last_used_at == used_at
    clock.advance(seconds=120)  # now past the precision
    third = app.test_client()
    assert sign_in(third, "alice").status_code == 303
    pass_second_factor(app, third)
    assert get_account(app, "alice").last_used_at == clock.now()


def test_a_reminder_is_withdrawn_even_by_a_sign_in_within_the_hour_D7(app, clock):
    """The reminder fields are cleared by every sign-in: a last use just written does
    not let a pending reminder (and the revocation that follows it) stand."""
    create_account(app, "alice")
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        account = svc.accounts.get_by_username(db, "alice")
        account.last_used_at = clock.now()  # fresh, yet a reminder is recorded
        account.reminder_sent_days, account.reminder_sent_at = 30, clock.now()
        db.commit()
    finally:
        db.close()
    client = app.test_client()
    assert sign_in(client, "alice").status_code == 303
    pass_second_factor(app, client)
    account = get_account(app, "alice")
    assert account.reminder_sent_days is None and account.reminder_sent_at is None
