"""The worker's mail outbox times each mail at its own attempt (S16; idp.outbox). Both
tests failed before, when a pass read the clock once at its start: a code already
expired was still mailed behind a slow exchange, and a mail claimed late in a long pass
was due again at once, so a second worker sent it too (a claim now holds a mail for
longer than an exchange can last). Found by an adversarial review."""

from __future__ import annotations

from idp.mail import OutgoingMail
from idp.models import OutboxMail
from tests.helpers import outbox, run_cli


def _stage_mail(app, subject: str, valid_minutes: int | None = None) -> int:
    from datetime import timedelta

    svc = app.extensions["clef"]
    now = svc.clock.now()
    db = svc.session_factory()
    try:
        row = svc.outbox.stage(
            db, OutgoingMail(to="alice@example.org", subject=subject, text=f"{subject}: 123456"),
            now, message="confirm_email", expires_at=None if valid_minutes is None
            else now + timedelta(minutes=valid_minutes))
        db.commit()
        return row.id
    finally:
        db.close()


def _slow_mail_server(app, monkeypatch, seconds: float, during=None) -> None:
    """Each SMTP exchange of a mail whose subject starts "slow" takes ``seconds`` (the
    app's clock moves on meanwhile); ``during`` runs once, in the middle of the first."""
    svc = app.extensions["clef"]
    backend = svc.mailer.backend
    real = backend.deliver
    pending = [during] if during else []

    def deliver(message):
        if str(message["Subject"]).startswith("slow"):
            svc.clock.advance(seconds=seconds)
            while pending:
                pending.pop()()
        real(message)

    monkeypatch.setattr(backend, "deliver", deliver)


def test_s16_a_code_mail_is_not_sent_after_its_code_expired_late_in_a_pass(app, clock,
                                                                           monkeypatch):
    """A mail holding a code is given up once the code has expired, checked at its own
    attempt: behind a slow exchange (SMTP timeouts are 10 s per step, up to 50 mails a
    pass) the pass's start is long gone."""
    _stage_mail(app, "slow notice")
    code_mail = _stage_mail(app, "code", valid_minutes=10)
    clock.advance(minutes=9, seconds=50)  # both due; the code still valid at the pass start
    _slow_mail_server(app, monkeypatch, seconds=40)
    assert run_cli(app, "oidc", "deliver").exit_code == 0
    sent_subjects = [str(m["Subject"]) for m in outbox(app)]
    db = app.extensions["clef"].session_factory()
    try:
        status = db.get(OutboxMail, code_mail).status
    finally:
        db.close()
    assert "code" not in sent_subjects, f"code mailed 30 s after it expired ({status})"


def test_two_workers_never_send_one_mail_twice_at_once(app, clock, monkeypatch):
    """Each claim sets the row's next attempt to ``now + wait`` with ``now`` the time of
    the attempt, not the pass's start: a second worker's pass started while the first is
    still in a slow exchange finds nothing due."""
    svc = app.extensions["clef"]
    _stage_mail(app, "slow one")
    _stage_mail(app, "slow two")
    clock.advance(seconds=31)

    def second_worker() -> None:
        other = svc.session_factory()
        try:
            svc.outbox.deliver_due(other)
        finally:
            other.close()

    # The first mail takes 40 s; while the second is being sent, another worker starts.
    calls = {"n": 0}
    backend = svc.mailer.backend
    real = backend.deliver

    def deliver(message):
        calls["n"] += 1
        clock.advance(seconds=40)
        if calls["n"] == 2:
            second_worker()
        real(message)

    monkeypatch.setattr(backend, "deliver", deliver)
    db = svc.session_factory()
    try:
        svc.outbox.deliver_due(db)
    finally:
        db.close()
    subjects = sorted(str(m["Subject"]) for m in outbox(app))
    assert subjects == ["slow one", "slow two"], f"sent: {subjects}"
