"""The second step as a service (issue 10, S7, D4, J10), against the real database: it
counts before it checks, locks without checking, audits and commits, and takes a new
kind of factor as one new checker, with no change to the step."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from idp.audit import Where
from idp.models import Account, AuditEvent
from idp.throttle import SECOND_FACTOR_STEP
from mfa import events
from mfa.checkers import Attempt, SecurityKeyChecker, WrongCode, checkers_for
from mfa.models import SecondFactor
from mfa.runtime import EXTENSION_KEY
from mfa.service import SecondStep, SecondStepLocked
from tests.support.accounts import TEST_TOTP_SECRET, create_account
from tests.totp_reference import key_of, totp


def _code_at(now: datetime) -> str:
    return totp(key_of(TEST_TOTP_SECRET), int(now.timestamp()))


@pytest.fixture
def db(app) -> Iterator[Session]:
    session = app.extensions["clef"].session_factory()
    try:
        yield session
    finally:
        session.close()


def _attempt(db: Session, account_id: int) -> Attempt:
    account = db.get(Account, account_id)
    assert account is not None
    return Attempt(account=account, binding="attempt-1", where=Where(ip="127.0.0.1"))


def _tags(db: Session, account_id: int) -> list[str]:
    db.rollback()  # a fresh view of what the service committed
    return list(db.scalars(select(AuditEvent.tag).where(AuditEvent.account_id == account_id)
                           .order_by(AuditEvent.id)))


def _factor(app, db: Session, account_id: int) -> SecondFactor:
    found = app.extensions[EXTENSION_KEY].factors.find_for(db, account_id)
    assert len(found) == 1  # an account's factors are a list
    return found[0]


def test_issue10_a_wrong_code_is_counted_audited_and_committed(app, db):
    account = create_account(app, "alice")
    step: SecondStep = app.extensions[EXTENSION_KEY].second_step
    svc = app.extensions["clef"]
    signed_in: list[list[str]] = []
    with pytest.raises(WrongCode) as wrong:
        step.verify_factor(db, _attempt(db, account.id), _factor(app, db, account.id), "000000",
                           svc.clock.now(), signed_in.append)
    assert not wrong.value.blank and signed_in == []
    assert _tags(db, account.id)[-1] == events.FAILURE
    assert svc.throttle.state(db, account.username_key, SECOND_FACTOR_STEP).failures == 1


def test_issue10_the_right_code_signs_in_and_clears_the_count(app, db):
    account = create_account(app, "alice")
    step: SecondStep = app.extensions[EXTENSION_KEY].second_step
    svc = app.extensions["clef"]
    now = svc.clock.now()
    signed_in: list[list[str]] = []
    amr = step.verify_factor(db, _attempt(db, account.id), _factor(app, db, account.id),
                             _code_at(now), now, signed_in.append)
    assert amr == "otp" and signed_in == [["pwd", "otp"]]
    assert _tags(db, account.id)[-1] == "account:login:success"
    assert svc.throttle.state(db, account.username_key, SECOND_FACTOR_STEP).failures == 0


def test_issue10_s7_a_locked_step_checks_nothing(app, db):
    account = create_account(app, "alice")
    step: SecondStep = app.extensions[EXTENSION_KEY].second_step
    svc = app.extensions["clef"]
    now = svc.clock.now()
    for _ in range(svc.settings.lockout.threshold):
        with pytest.raises(WrongCode):
            step.verify_factor(db, _attempt(db, account.id), _factor(app, db, account.id),
                               "000000", now, lambda _amr: None)
    signed_in: list[list[str]] = []
    with pytest.raises(SecondStepLocked) as locked:
        step.verify_factor(db, _attempt(db, account.id), _factor(app, db, account.id),
                           _code_at(now), now, signed_in.append)
    assert locked.value.retry_after is not None and signed_in == []
    assert _tags(db, account.id)[-1] == events.LOCKED


class _AlwaysKey:
    """A stand-in for a new kind of factor (a security key): one checker, nothing else."""

    kind = "test_key"
    amr = "hwk"
    mails_code = False
    guarded = False  # its check is not one conditional write (mfa.second_step_writes)

    def verify(self, db: Session, factor: SecondFactor, attempt: Attempt, typed: str,
               now: datetime) -> None:
        if typed != "touched":
            raise WrongCode(blank=not typed)

    def guard(self, factor: SecondFactor, typed: str, now: datetime) -> None:
        return None


def test_issue10_a_new_kind_of_factor_is_one_new_checker(app, db):
    account = create_account(app, "alice")
    svc, m = app.extensions["clef"], app.extensions[EXTENSION_KEY]
    checkers = {**checkers_for(m.factors, svc.email_codes), _AlwaysKey.kind: _AlwaysKey()}
    step = SecondStep(svc.throttle, svc.accounts, checkers, m.recovery_codes,
                      SecurityKeyChecker(m.security_keys))
    key = SecondFactor(account_id=account.id, kind=_AlwaysKey.kind)
    signed_in: list[list[str]] = []
    with pytest.raises(WrongCode):
        step.verify_factor(db, _attempt(db, account.id), key, "", svc.clock.now(), signed_in.append)
    amr = step.verify_factor(db, _attempt(db, account.id), key, "touched", svc.clock.now(),
                             signed_in.append)
    assert amr == "hwk" and signed_in == [["pwd", "hwk"]]


def test_issue10_a_recovery_code_is_burnt_once_and_notified(app, db):
    account = create_account(app, "alice")
    svc, m = app.extensions["clef"], app.extensions[EXTENSION_KEY]
    codes = m.recovery_codes.replace(db, account.id, svc.clock.now())
    db.commit()
    told: list[int] = []
    remaining = m.second_step.verify_recovery_code(db, _attempt(db, account.id), codes[0],
                                                   svc.clock.now(), lambda _amr: None, told.append)
    assert remaining == len(codes) - 1 and told == [remaining]
    with pytest.raises(WrongCode):
        m.second_step.verify_recovery_code(db, _attempt(db, account.id), codes[0],
                                           svc.clock.now(), lambda _amr: None, told.append)
    assert _tags(db, account.id)[-1] == events.RECOVERY_CODE_FAILURE and told == [remaining]
