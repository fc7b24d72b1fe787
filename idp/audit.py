"""The audit log (S28, ASVS 16.3.1): every authentication and admin event, who, when,
from where. Rows in ``audit_events`` and a line in the ``clef.audit`` logger.

Callers pass facts, never secrets: ``details`` must not hold a password, code or token,
and an unknown username is not recorded in clear (it may be a mistyped password).
Tags follow ``source:subject:action``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, event, insert, select
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from idp.models import AuditEvent

log = logging.getLogger("clef.audit")

LOGIN_SUCCESS = "account:login:success"
LOGIN_FAILURE = "account:login:failure"
LOGIN_LOCKED = "account:login:locked"
LOGIN_REVOKED = "account:login:revoked"
REGISTERED = "account:register:success"
LOGOUT = "account:session:logout"
SESSION_EXPIRED = "account:session:expired"
SESSION_RENEWED = "account:session:keepalive"
EMAIL_CODE_SENT = "account:email:code_sent"
EMAIL_CONFIRMED = "account:email:confirmed"
EMAIL_CODE_FAILED = "account:email:code_failure"
PASSWORD_REHASHED = "account:password:rehash"  # noqa: S105 - an event tag
# The recovery slice (J6, J7, S14, S18, S19).
RECOVERY_USERNAME_ASKED = "account:recovery:username_asked"
RECOVERY_RESET_STARTED = "account:recovery:reset_started"
RECOVERY_RESET_REVOKED = "account:recovery:revoked_refused"
RECOVERY_ANSWER_FAILED = "account:recovery:answer_failure"
RECOVERY_VERIFIED = "account:recovery:verified"
RECOVERY_PASSWORD_RESET = "account:password:reset"  # noqa: S105 - an event tag
RECOVERY_QUESTIONS_SET = "account:recovery:questions_set"
RECOVERY_EMAIL_CHANGED = "account:recovery:email_changed"
ADMIN_REVOKE = "admin:account:revoke"
ADMIN_UNLOCK = "admin:account:unlock"
ADMIN_SESSIONS_END = "admin:sessions:end"
ADMIN_INACTIVE_REMINDER = "admin:account:inactivity_reminder"
ADMIN_INACTIVE_REVOKE = "admin:account:inactivity_revoke"
ADMIN_VIEW = "admin:account:view"
ADMIN_LIST = "admin:account:list"
ADMIN_SESSIONS_PURGE = "admin:sessions:purge"
ADMIN_RESEAL = "admin:secrets:reseal"
ADMIN_CLIENT_ADD = "admin:client:add"
ADMIN_CLIENT_SECRET = "admin:client:rotate_secret"  # noqa: S105 - an event tag
ADMIN_CLIENT_REMOVE = "admin:client:remove"
ADMIN_KEYS_ROTATE = "admin:keys:rotate"
OIDC_AUTHORIZED = "oidc:authorize:success"
OIDC_CONSENT = "oidc:consent:granted"
OIDC_CODE_REUSED = "oidc:code:reused"
OIDC_REFRESH_REUSED = "oidc:refresh:reused"
OIDC_LOGOUT = "oidc:logout:rp"
BACKCHANNEL_DELIVERED = "oidc:backchannel:delivered"
BACKCHANNEL_FAILED = "oidc:backchannel:failure"
BACKCHANNEL_GIVEN_UP = "oidc:backchannel:given_up"
# The mail outbox (idp.outbox): what the worker, or a retry, reached.
MAIL_SENT = "mail:outbox:sent"
MAIL_FAILED = "mail:outbox:failure"
MAIL_GIVEN_UP = "mail:outbox:given_up"


# Called with the tag of every event recorded (idp.metrics counts them). An observer
# sees only the tag, never the actor, address or details, so nothing personal leaves.
OBSERVERS: list[Callable[[str], None]] = []


def observe(observer: Callable[[str], None]) -> None:
    """Have ``observer`` called with the tag of each event from now on (once only)."""
    if observer not in OBSERVERS:
        OBSERVERS.append(observer)


@dataclass(frozen=True)
class Where:
    """Where a request came from."""

    ip: str | None = None
    user_agent: str | None = None


def record(
    db: Session,
    now: datetime,
    tag: str,
    *,
    actor: str,
    account_id: int | None = None,
    where: Where | None = None,
    **details: Any,
) -> None:
    """Add one event to the session's transaction and log it. The caller commits.

    The row is kept aside and written with the others of the transaction by one Core
    INSERT (an executemany) when the session commits or next queries, not as an ORM
    object: a request's events cost one statement and no unit-of-work bookkeeping
    (issue 11). A rollback drops them with the rest of the transaction."""
    event_row = row(now, tag, actor=actor, account_id=account_id, where=where, **details)
    if not db.in_transaction():
        db.begin()  # so a rollback before any statement still drops the event
    db.info.setdefault(_PENDING, []).append(event_row)
    announce(event_row)


def row(now: datetime, tag: str, *, actor: str, account_id: int | None = None,
        where: Where | None = None, **details: Any) -> dict[str, Any]:
    """One event's row (the columns of ``audit_events`` by name), neither kept nor
    logged: for a statement that writes it only on a condition (``mfa.second_step_writes``:
    a success only when its code's step was claimed), given to :func:`announce` once
    written. :func:`record` is the usual way."""
    where = where or Where()
    return {
        "at": now,
        "tag": tag,
        "account_id": account_id,
        "actor": actor,
        "ip": where.ip,
        "user_agent": (where.user_agent or "")[:512] or None,
        "details": details,
    }


def announce(event_row: dict[str, Any]) -> None:
    """Log ``event_row`` and tell the observers its tag (:func:`record` does it)."""
    tag, details = event_row["tag"], event_row["details"]
    log.info("%s actor=%s account=%s ip=%s %s", tag, event_row["actor"],
             event_row["account_id"], event_row["ip"], details)
    for observer in OBSERVERS:
        observer(tag)


_PENDING = "clef.audit.pending"
_TABLE = cast(Table, AuditEvent.__table__)
_INSERT = insert(_TABLE)  # built once (issue 11)


def unwritten(db: Session) -> bool:
    """Whether events recorded in ``db``'s transaction still wait for their INSERT (a
    request that recorded one must commit, as if an ORM object were pending)."""
    return bool(db.info.get(_PENDING))


def take_pending(db: Session, limit: int) -> list[dict[str, Any]]:
    """The events recorded in ``db``'s transaction and not written yet, taken for the
    caller to write in a statement of its own in this transaction (the columns of
    ``audit_events`` by name): all of them, or none when more than ``limit`` wait
    (they are then written at the commit, as usual). Logged and observed already."""
    rows: list[dict[str, Any]] = db.info.get(_PENDING) or []
    if not rows or len(rows) > limit:
        return []
    del db.info[_PENDING]
    return rows


# The columns an event's row fills (its id is the table's own).
_COLUMNS = ("at", "tag", "account_id", "actor", "ip", "user_agent", "details")


def with_rows_as_ctes(statement: Any, count: int, only_with: Any = None) -> Any:
    """``statement`` with ``count`` audit rows written by it, as data-modifying CTEs
    (PostgreSQL: ``WITH audit0 AS (INSERT INTO audit_events ...) ...``), all or nothing
    with it (issue 11: one round trip). One CTE a row, bound ``audit<n>_<column>``: a
    multi-row VALUES would make the statement uncacheable, compiled at every request.
    Their ids are taken in no set order (``idp.password_step_writes`` leaves a
    rehash's two rows to the commit for that). ``only_with``: a CTE of the statement
    (a conditional write's ``RETURNING``); each row is then written once per row it
    returns (``INSERT ... SELECT ... FROM`` it), so not at all when it wrote nothing.
    Build it once per shape; bind with :func:`bind_rows`."""
    for n in range(count):
        values = {name: bindparam(f"audit{n}_{name}", type_=_TABLE.c[name].type)
                  for name in _COLUMNS}
        if only_with is None:
            written = insert(_TABLE).values(values)
        else:
            written = insert(_TABLE).from_select(
                list(values), select(*values.values()).select_from(only_with))
        statement = statement.add_cte(written.cte(f"audit{n}"))
    return statement


def bind_rows(params: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Add ``rows`` (from :func:`take_pending`) to ``params`` as
    :func:`with_rows_as_ctes` binds them."""
    for number, row in enumerate(rows):
        for name, value in row.items():
            params[f"audit{number}_{name}"] = value


def write_pending(db: Session) -> None:
    """Write the events recorded so far in one statement (SQLite and PostgreSQL both
    take a list of rows as one executemany)."""
    rows = db.info.pop(_PENDING, None)
    if rows:
        # On the session's connection, not through ``Session.execute``: a Core INSERT
        # needs none of the ORM's execution machinery (a third of the calls, issue 11).
        db.connection().execute(_INSERT, rows)


@event.listens_for(Session, "before_commit")
def _before_commit(db: Session) -> None:
    write_pending(db)


@event.listens_for(Session, "do_orm_execute")
def _before_query(state: ORMExecuteState) -> None:
    # Like autoflush: a query later in the transaction (``recent``, a test's count)
    # sees the events recorded before it.
    if state.session.info.get(_PENDING):
        write_pending(state.session)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(db: Session, previous: SessionTransaction) -> None:
    if previous.parent is None:  # the whole transaction, not a savepoint
        db.info.pop(_PENDING, None)


def recent(db: Session, limit: int = 50, account_id: int | None = None) -> list[AuditEvent]:
    """The newest events first, optionally for one account."""
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    if account_id is not None:
        query = query.where(AuditEvent.account_id == account_id)
    return list(db.scalars(query))
