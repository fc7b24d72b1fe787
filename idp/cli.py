"""The admin command line: ``clef users|sessions|audit|db``.

Administrators touch credentials, never portal data (J13), and cannot set anyone's
password (S5): there is no such command. Every action is audited with the operating
system user who ran it.
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import func, select

from idp import audit
from idp.accounts import REVOKE_REASONS
from idp.cli_support import admin_actor, shown
from idp.mail_render import absolute_link, send_staged, stage_mail
from idp.models import ACTIVE, Account
from idp.oidc.runtime import oidc
from idp.revocation import plan_inactivity_sweep, reminder_threshold, revoke_account, still_unused
from idp.runtime import db, services
from idp.secret_box import SecretUnreadable, new_key
from idp.throttle import ALL_STEPS, SECOND_FACTOR_STEP
from idp.usernames import username_key


def _find(name: str) -> Account:
    account = services().accounts.get_by_username(db(), name)
    if account is None:
        raise click.ClickException(f"no account named {name!r}")
    return account


# AppGroup runs each command inside the app context, however the CLI is entered (the
# `clef` script, `flask`, or app.test_cli_runner()).
users = AppGroup("users", help="Look at, unlock and revoke credentials.")
sessions_group = AppGroup("sessions", help="End sign-in sessions.")
audit_group = AppGroup("audit", help="Read the audit log.")
db_group = AppGroup("db", help="Database schema.")
encryption_group = AppGroup("encryption", help="Keys that encrypt secrets at rest.")


@users.command("list")
@click.option("--status", type=click.Choice(["active", "revoked", "all"]), default="all")
@click.option("--limit", default=100, show_default=True)
def users_list(status: str, limit: int) -> None:
    """Usernames, status, last use."""
    query = select(Account).order_by(Account.username_key).limit(limit)
    if status != "all":
        query = query.where(Account.status == status)
    for account in db().scalars(query):
        click.echo(f"{account.username}\t{account.status}\tlast used {account.last_used_at:%Y-%m-%d}")
    total = db().scalar(select(func.count()).select_from(Account))
    click.echo(f"({total} accounts in all)", err=True)
    svc = services()
    audit.record(db(), svc.clock.now(), audit.ADMIN_LIST, actor=admin_actor(), status=status)
    db().commit()


@users.command("show")
@click.argument("name")
def users_show(name: str) -> None:
    """One credential's facts (never a hash or a code)."""
    svc = services()
    account = _find(name)
    lock = svc.throttle.state(db(), account.username_key)
    code_lock = svc.throttle.state(db(), account.username_key, SECOND_FACTOR_STEP)
    rows = {
        "username": account.username,
        "status": account.status,
        "revoked": f"{shown(account.revoked_at)} ({shown(account.revoked_reason)})",
        "created": account.created_at,
        "last used": account.last_used_at,
        "recovery email": "none" if account.email is None else (
            "confirmed" if account.has_confirmed_email else "not confirmed"),
        "language": account.locale,
        "failed attempts": lock.failures,
        "locked until": shown(lock.locked_until),
        "failed codes": code_lock.failures,
        "codes locked": shown(code_lock.locked_until),
        "sessions": svc.sessions.count_for_account(db(), account.id),
    }
    for key, value in rows.items():
        click.echo(f"{key:16} {value}")
    for line in svc.factor_list(db(), account.id) or ["none"]:
        click.echo(f"{'second factor':16} {line}")
    audit.record(db(), svc.clock.now(), audit.ADMIN_VIEW, actor=admin_actor(), account_id=account.id)
    db().commit()


@users.command("unlock")
@click.argument("name")
def users_unlock(name: str) -> None:
    """Lift a lock after too many attempts (D4). Works for any username, existing or not."""
    svc = services()
    account = svc.accounts.get_by_username(db(), name)
    had = svc.throttle.clear(db(), username_key(name), ALL_STEPS)
    audit.record(db(), svc.clock.now(), audit.ADMIN_UNLOCK, actor=admin_actor(),
                 account_id=account.id if account else None, had_failures=had)
    db().commit()
    click.echo(f"{name}: {'unlocked' if had else 'was not locked'}")


@users.command("revoke")
@click.argument("name")
@click.option("--reason", type=click.Choice([r for r in REVOKE_REASONS if r != "inactive"]),
              required=True)
def users_revoke(name: str, reason: str) -> None:
    """Revoke a credential for good and end its sessions at once (J12)."""
    svc = services()
    account = _find(name)
    if account.status != ACTIVE:
        raise click.ClickException(f"{account.username} is already revoked")
    ended = revoke_account(db(), svc.accounts, svc.sessions, account, reason, svc.clock.now())
    audit.record(db(), svc.clock.now(), audit.ADMIN_REVOKE, actor=admin_actor(),
                 account_id=account.id, reason=reason, sessions_ended=ended)
    db().commit()
    click.echo(f"{account.username}: revoked ({reason}); {ended} session(s) ended")


@users.command("sweep-inactive")
@click.option("--days", type=click.IntRange(min=1), default=None,
              help="Days unused before revocation (config).")
@click.option("--dry-run", is_flag=True, help="Say what would happen; change nothing.")
def users_sweep(days: int | None, dry_run: bool) -> None:
    """Remind, then revoke, credentials unused for two years (D7, ASVS 6.4.5)."""
    svc = services()
    now = svc.clock.now()
    settings = svc.settings.revocation
    limit = settings.inactive_days if days is None else days
    plan = plan_inactivity_sweep(db(), now, limit, settings.reminder_days)
    for reminder in plan.reminders:
        account = reminder.account
        click.echo(f"remind {account.username}: {reminder.days_left} day(s) left")
        if dry_run:
            continue
        if account.has_confirmed_email and account.email:
            stage_mail("inactivity_reminder", account.locale, account.email,
                       account_id=account.id, username=account.username,
                       days_left=reminder.days_left, sign_in_url=absolute_link("/signin"))
        account.reminder_sent_days = reminder_threshold(reminder.days_left, settings.reminder_days)
        account.reminder_sent_at = now
        audit.record(db(), now, audit.ADMIN_INACTIVE_REMINDER, actor=admin_actor(),
                     account_id=account.id, days_left=reminder.days_left,
                     emailed=account.has_confirmed_email)
        db().commit()
        send_staged()
    for account in plan.revocations:
        if not dry_run and not still_unused(db(), account, svc.clock.now(), limit):
            click.echo(f"keep {account.username}: used while the sweep ran")
            db().rollback()
            continue
        click.echo(f"revoke {account.username}: unused since {account.last_used_at:%Y-%m-%d}")
        if dry_run:
            continue
        ended = revoke_account(db(), svc.accounts, svc.sessions, account, "inactive", now)
        audit.record(db(), now, audit.ADMIN_INACTIVE_REVOKE, actor=admin_actor(),
                     account_id=account.id, sessions_ended=ended)
        db().commit()
    verb = "would be" if dry_run else "were"
    click.echo(f"{len(plan.reminders)} reminder(s) and {len(plan.revocations)} revocation(s) {verb} made")


@sessions_group.command("end")
@click.argument("name", required=False)
@click.option("--all", "end_all", is_flag=True, help="End every signed-in session.")
def sessions_end(name: str | None, end_all: bool) -> None:
    """End one person's sessions, or everyone's (S22, ASVS 7.4.5)."""
    if bool(name) == end_all:
        raise click.UsageError("give a username or --all, not both")
    svc = services()
    if end_all:
        ended = svc.sessions.end_all_signed_in(db())
        audit.record(db(), svc.clock.now(), audit.ADMIN_SESSIONS_END, actor=admin_actor(),
                     scope="all", sessions_ended=ended)
    else:
        account = _find(name or "")
        ended = svc.sessions.end_for_account(db(), account.id)
        audit.record(db(), svc.clock.now(), audit.ADMIN_SESSIONS_END, actor=admin_actor(),
                     account_id=account.id, sessions_ended=ended)
    db().commit()
    click.echo(f"{ended} session(s) ended")


@sessions_group.command("purge")
def sessions_purge() -> None:
    """Delete rows of sessions past their idle or absolute limit (housekeeping: they are
    already refused). Run it daily, beside sweep-inactive."""
    svc = services()
    purged = svc.sessions.purge_expired(db(), svc.clock.now())
    audit.record(db(), svc.clock.now(), audit.ADMIN_SESSIONS_PURGE, actor=admin_actor(), purged=purged)
    db().commit()
    click.echo(f"{purged} expired session(s) deleted")


@audit_group.command("tail")
@click.option("-n", "count", default=50, show_default=True)
@click.option("--user", "name", default=None, help="Only this account's events.")
def audit_tail(count: int, name: str | None) -> None:
    """The newest audit events, oldest first."""
    account_id = _find(name).id if name else None
    events = audit.recent(db(), count, account_id)
    for event in reversed(events):
        click.echo(f"{event.at:%Y-%m-%dT%H:%M:%SZ}\t{event.tag}\t{event.actor}\t"
                   f"{shown(event.ip)}\t{event.details or ''}")


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Apply every Alembic migration (creates the embedded database on first run)."""
    from idp.migrate import upgrade

    svc = services()
    upgrade(svc.settings.database_url)
    made = oidc().signing_keys.ensure(db(), svc.clock.now())  # published before any token
    db().commit()
    click.echo("database at the newest schema"
               + (f"; {len(made)} signing key(s) made" if made else ""))


@encryption_group.command("new-key")
def secrets_new_key() -> None:
    """Print a fresh key for service.encryption_keys (put it first to encrypt with it)."""
    click.echo(new_key())


@encryption_group.command("reseal")
def secrets_reseal() -> None:
    """Re-encrypt every stored secret under the first key of service.encryption_keys;
    after it, older keys can be dropped from the configuration. All or nothing."""
    svc = services()
    counts = {}
    try:
        for name, reseal in svc.resealers.items():
            counts[name] = reseal(db(), svc.box)
    except SecretUnreadable as error:
        db().rollback()
        raise click.ClickException(
            "a secret could not be opened with any configured key; nothing was changed"
        ) from error
    audit.record(db(), svc.clock.now(), audit.ADMIN_RESEAL, actor=admin_actor(), resealed=counts)
    db().commit()
    for name, count in counts.items():
        click.echo(f"{name}: {count} re-encrypted under the first key")


def register_cli(app: Flask) -> None:
    for group in (users, sessions_group, audit_group, db_group, encryption_group):
        app.cli.add_command(group)

