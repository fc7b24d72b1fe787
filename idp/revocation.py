"""Revocation (J12, D7): an administrator's revoke, and the sweep of credentials unused
for two years, with reminder emails before it (ASVS 6.4.5).

Revoked is final: the account can never sign in again (``AccountService``) nor be
recovered. Every session of the account ends at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from idp.accounts import AccountService
from idp.models import ACTIVE, Account
from idp.sessions import SessionStore


@dataclass(frozen=True)
class Reminder:
    account: Account
    days_left: int


@dataclass
class SweepPlan:
    reminders: list[Reminder] = field(default_factory=list)
    revocations: list[Account] = field(default_factory=list)


def revoke_account(
    db: Session, accounts: AccountService, sessions: SessionStore,
    account: Account, reason: str, now: datetime,
) -> int:
    """Revoke and end every session; returns how many sessions ended. Caller commits."""
    accounts.revoke(account, reason, now)
    return sessions.end_for_account(db, account.id)


def plan_inactivity_sweep(
    db: Session, now: datetime, inactive_days: int, reminder_days: tuple[int, ...]
) -> SweepPlan:
    """Who is due a reminder and who is due revocation, without changing anything.

    One indexed range query on ``last_used_at``: only accounts within the largest
    reminder window of the limit are read.
    """
    earliest_reminder = max(reminder_days, default=0)
    horizon = now - timedelta(days=inactive_days - earliest_reminder)
    query = (
        select(Account)
        .where(Account.status == ACTIVE, Account.last_used_at <= horizon)
        .order_by(Account.last_used_at)
    )
    plan = SweepPlan()
    for account in db.scalars(query):
        unused = now - account.last_used_at
        days_left = inactive_days - unused.days
        if days_left <= 0:
            plan.revocations.append(account)
            continue
        due = min((r for r in reminder_days if r >= days_left), default=None)
        if due is None:
            continue
        if account.reminder_sent_days is None or account.reminder_sent_days > due:
            plan.reminders.append(Reminder(account, days_left))
    return plan


def reminder_threshold(days_left: int, reminder_days: tuple[int, ...]) -> int:
    """The reminder step ``days_left`` falls in (so each step is sent once)."""
    return min(r for r in reminder_days if r >= days_left)
