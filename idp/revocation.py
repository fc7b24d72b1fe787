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

    A person who can be written to (a confirmed recovery email) is never revoked without
    a final notice of at least ``min(reminder_days)`` days: when the sweep ran late or
    for the first time on old data, the final reminder goes out now and revocation waits
    for it. One indexed range query on ``last_used_at`` reads only accounts within the
    largest reminder window of the limit.
    """
    final_notice = min(reminder_days, default=0)
    horizon = now - timedelta(days=inactive_days - max(reminder_days, default=0))
    query = (
        select(Account)
        .where(Account.status == ACTIVE, Account.last_used_at <= horizon)
        .order_by(Account.last_used_at)
    )
    plan = SweepPlan()
    for account in db.scalars(query):
        days_left = inactive_days - (now - account.last_used_at).days
        due = min((r for r in reminder_days if r >= days_left), default=None)
        if due is None:
            continue
        notice_given = account.reminder_sent_days == final_notice and (
            account.reminder_sent_at is not None
            and now - account.reminder_sent_at >= timedelta(days=final_notice)
        )
        if days_left <= 0 and (notice_given or not account.has_confirmed_email):
            plan.revocations.append(account)
        elif account.reminder_sent_days is None or account.reminder_sent_days > due:
            shown = max(days_left, final_notice) if due == final_notice else days_left
            plan.reminders.append(Reminder(account, shown))
    return plan


def still_unused(db: Session, account: Account, now: datetime, inactive_days: int) -> bool:
    """Whether ``account``, read again and locked (PostgreSQL) just before it is revoked,
    is still active and unused for ``inactive_days``: the sweep's plan was read before
    its mail went out, and someone who signed in meanwhile keeps their credential (D7)."""
    db.refresh(account, with_for_update=True)
    return account.status == ACTIVE and (now - account.last_used_at).days >= inactive_days


def reminder_threshold(days_left: int, reminder_days: tuple[int, ...]) -> int:
    """The reminder step ``days_left`` falls in (so each step is sent once)."""
    return min(r for r in reminder_days if r >= days_left)
