"""`clef encryption reseal` (S11): every secret at rest under the first key, mail waiting
in the outbox included, and never a secret changed meanwhile written back. Both tests
failed before. Found by an adversarial review."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp import audit
from idp.mail import OutgoingMail
from idp.models import OutboxMail
from idp.outbox import SENT
from idp.secret_box import new_key
from mfa.models import SecondFactor
from mfa.runtime import EXTENSION_KEY as MFA
from tests.helpers import TEST_TOTP_SECRET, audit_events, create_account, get_account, outbox, run_cli


@pytest.fixture(autouse=True)
def os_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNAME", "opal")


def test_reseal_covers_mail_waiting_in_the_outbox_so_the_old_key_can_go_S11(make_app, clock):
    """README: rotate by putting a new key first, `clef encryption reseal`, then drop the
    old keys. A mail still waiting in the outbox (the SMTP server was down: a security
    notice) was sealed under the old key; it is resealed too, and sent once the old key
    is gone (it was given up as unreadable: lost)."""
    old, new = new_key(), new_key()
    first = make_app(service={"encryption_keys": [old]})
    svc = first.extensions["clef"]
    db = svc.session_factory()
    try:
        row = svc.outbox.stage(db, OutgoingMail(to="alice@example.org", subject="Your password "
                                                "was reset", text="Your password was reset."),
                               clock.now(), message="password_reset")
        db.commit()
        mail_id = row.id
    finally:
        db.close()

    rotated = make_app(service={"encryption_keys": [new, old]})
    resealed = run_cli(rotated, "encryption", "reseal")
    assert resealed.exit_code == 0, resealed.output

    only_new = make_app(service={"encryption_keys": [new]})  # the old key dropped, as told
    clock.advance(seconds=60)
    assert run_cli(only_new, "oidc", "deliver").exit_code == 0
    db = only_new.extensions["clef"].session_factory()
    try:
        status = db.scalars(select(OutboxMail.status).where(OutboxMail.id == mail_id)).one()
    finally:
        db.close()
    given_up = [e.details for e in audit_events(only_new, audit.MAIL_GIVEN_UP)]
    assert status == SENT, f"mail lost after reseal: {status}, {given_up}"
    assert len(outbox(only_new)) == 1


def test_reseal_never_brings_back_an_authenticator_replaced_while_it_ran_S11_S14(
        make_app, monkeypatch):
    """`clef encryption reseal` reads every TOTP row, re-encrypts each, and writes it back
    only if it still holds what was read. Alice replaces her app (her phone was stolen)
    in between: her new secret stays (it was overwritten by her old one, re-encrypted:
    the thief's phone worked again, hers did not)."""
    new = new_key()
    create_account(first := make_app(), "alice")
    del first
    app = make_app(service={"encryption_keys": [new]})
    svc = app.extensions["clef"]
    factors = app.extensions[MFA].factors
    alice = get_account(app, "alice")
    replacement = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    box = svc.box
    real_reseal = box.reseal
    done: list[bool] = []

    def reseal(sealed: str) -> str:
        if not done:  # alice, on the web, sets up her new phone now
            done.append(True)
            other = svc.session_factory()
            try:
                factors.use_totp(other, alice.id, replacement, 1, svc.clock.now())
                other.commit()
            finally:
                other.close()
        return real_reseal(sealed)

    monkeypatch.setattr(box, "reseal", reseal)
    result = run_cli(app, "encryption", "reseal")
    assert result.exit_code == 0, result.output
    db = svc.session_factory()
    try:
        stored = box.open(db.get(SecondFactor, alice.id).totp_secret)
    finally:
        db.close()
    assert stored != TEST_TOTP_SECRET, "the replaced (stolen) authenticator is back"
    assert stored == replacement
