"""The mail outbox (idp.outbox, issue 9 faults): a mail belongs to the transaction of
the change that causes it, waits sealed, is sent once, retried with back-off by the
worker, and its outcome is audited."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from idp import audit
from idp.mail import OutgoingMail
from idp.models import OutboxMail
from idp.outbox import DISCARDED, EXCHANGE_STEPS, GIVEN_UP, PENDING, SENT
from tests.helpers import audit_events, emailed_code, get_account, outbox, register, run_cli

MAIL = OutgoingMail(to="alice@example.org", subject="Your code", text="Your code is 123456.")


def _rows(app):
    db = app.extensions["clef"].session_factory()
    try:
        return list(db.scalars(select(OutboxMail).order_by(OutboxMail.id)))
    finally:
        db.close()


def _stage(app, mail=MAIL, commit=True, **kwargs):
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        row = svc.outbox.stage(db, mail, svc.clock.now(), message="confirm_email", **kwargs)
        db.commit() if commit else db.rollback()
        return row.id
    finally:
        db.close()


def _failing(app, monkeypatch, failures):
    """The mail backend refuses the next ``failures`` messages (OSError), then delivers."""
    backend = app.extensions["clef"].mailer.backend
    real = backend.deliver
    left = [failures]

    def deliver(message):
        if left[0] > 0:
            left[0] -= 1
            raise ConnectionRefusedError("down")
        real(message)

    monkeypatch.setattr(backend, "deliver", deliver)


def deliver(app) -> None:
    assert run_cli(app, "oidc", "deliver").exit_code == 0


def test_a_mail_whose_change_rolls_back_never_leaves(app, clock):
    _stage(app, commit=False)
    clock.advance(hours=1)
    deliver(app)
    assert outbox(app) == [] and _rows(app) == []


def test_the_message_waits_sealed_and_is_blanked_once_sent(app):
    mail_id = _stage(app)
    (row,) = _rows(app)
    assert "123456" not in row.sealed and "alice@example.org" not in row.sealed
    assert app.extensions["clef"].outbox.send(mail_id) is True
    (row,) = _rows(app)
    assert row.status == SENT and row.sealed == ""
    assert app.extensions["clef"].outbox.send(mail_id) is True  # already sent: not again
    assert len(outbox(app)) == 1


def test_the_worker_retries_with_back_off_then_gives_up_audited(app, clock, monkeypatch):
    retries = app.extensions["clef"].settings.mail.retry_seconds
    _failing(app, monkeypatch, failures=100)
    mail_id = _stage(app)
    assert app.extensions["clef"].outbox.send(mail_id) is False  # the immediate try
    for wait in retries:
        deliver(app)
        assert _rows(app)[0].status == PENDING  # not due yet: nothing tried
        clock.advance(seconds=wait)
        deliver(app)
    (row,) = _rows(app)
    assert row.status == GIVEN_UP and row.sealed == "" and row.attempts == len(retries) + 1
    assert len(audit_events(app, audit.MAIL_FAILED)) == len(retries)
    (given_up,) = audit_events(app, audit.MAIL_GIVEN_UP)
    assert given_up.details == {"mail": "confirm_email", "attempts": len(retries) + 1,
                                "reason": "ConnectionRefusedError"}
    assert outbox(app) == []


def test_a_mail_server_down_at_registration_loses_no_code(app, clock, monkeypatch):
    """J2, J5: the page says the code could not be sent; when the server is back the
    worker sends that very code, which still confirms the address."""
    _failing(app, monkeypatch, failures=1)
    client = app.test_client()
    response = register(client, "alice", email_address="alice@example.org")
    assert response.headers["Location"].endswith("/register/email?failed=1")
    assert outbox(app) == []
    clock.advance(seconds=30)
    deliver(app)
    (mail,) = outbox(app)
    (sent,) = audit_events(app, audit.MAIL_SENT)
    assert sent.account_id == get_account(app, "alice").id
    assert len(emailed_code(mail)) == 6
    assert _rows(app)[0].status == SENT


def test_two_senders_of_one_mail_send_it_once(app, clock, monkeypatch):
    """The request's immediate send and the worker (or two workers) both read the row
    (0 attempts) before either claims it: the claim is one conditional UPDATE on that
    count, so one wins."""
    svc = app.extensions["clef"]
    mail_id = _stage(app)
    clock.advance(seconds=31)
    first, second = svc.session_factory(), svc.session_factory()
    try:
        won = [svc.outbox.claim(first, mail_id, 0, clock.now()) is not None,
               svc.outbox.claim(second, mail_id, 0, clock.now()) is not None]
    finally:
        first.close(), second.close()
    assert won == [True, False]
    (row,) = _rows(app)
    # Held for longer than an exchange can last (8 steps of smtplib's 10 s timeout), not
    # only the first retry's 30 s: a slow exchange is never sent twice.
    lease = timedelta(seconds=EXCHANGE_STEPS * 10)
    assert row.attempts == 1 and row.next_attempt_at == clock.now() + lease
    deliver(app)  # claimed and not due again meanwhile: the worker leaves it alone
    assert outbox(app) == []


def test_a_mail_for_nobody_is_never_sent_and_is_purged_S6(app, clock):
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        svc.outbox.discard(db, MAIL, clock.now(), message="forgot_username")
        db.commit()
    finally:
        db.close()
    (row,) = _rows(app)
    assert row.status == DISCARDED and row.sealed == ""
    clock.advance(days=2)
    deliver(app)
    assert outbox(app) == [] and _rows(app) == []

