"""A right code's writes at the second step, in one statement on PostgreSQL (issue 11).

A right authenticator-app code (S11) writes three things: the claim of its time step
(the replay guard, a conditional ``UPDATE second_factors ... WHERE last_totp_step <
step``), the forgetting of both steps' attempt counts (D4) and the ``login.success``
audit row. They were three round trips. On PostgreSQL they are one statement: the
guard as a data-modifying CTE returning the row it claimed, and the two others as CTEs
that write only for a row it returned::

    WITH guard AS (UPDATE second_factors SET last_totp_step=... WHERE ... RETURNING ...),
         cleared AS (DELETE FROM login_throttles WHERE key IN (...)
                      AND EXISTS (SELECT 1 FROM guard)),
         audit0 AS (INSERT INTO audit_events (...) SELECT ... FROM guard)
    SELECT guard.account_id FROM guard

PostgreSQL runs every CTE in full, on one snapshot, all or nothing. A step claimed
meanwhile (the same code posted twice at once: the second UPDATE waits for the first's
commit, then finds the row no longer matching; a replay) returns no row, so nothing is
cleared and no success is recorded; the caller then fails the code as before. An error
anywhere in the statement writes none of the three.

The attempt's own count is not here: on this path it is claimed and committed alone
before the code is checked (``Throttle.claim``, as the password step's), so the
statement is the step's first write. SQLite (no data-modifying CTEs, no round trip to
save) keeps the claim, the check and the writes one after the other in one transaction.

The session's renewal (S20) joins as one more CTE when the caller signed the session
in before the statement (``session=True``, ``mfa.service``): the move of its row
conditional on the guard (``session_move AS (UPDATE sessions ... WHERE id = ... AND
EXISTS (SELECT 1 FROM guard))``, ``idp.session_rows.with_write_as_cte``), its values
bound beside the others (``session_*``: no bind named as a column of a table the
statement writes). The statement is then the step's whole transaction, sent alone in
autocommit (``idp.session_rows.write_alone``): the claim, then this, where BEGIN, the
statement, the session's UPDATE and COMMIT were four round trips. A refused code moves
nothing: the session keeps its token and level (the caller takes its sign-in back in
memory). A session ended while the code was checked (a logout in another tab, the
admin's revocation) is not found by the move and stays ended (S21), as at the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, exists, literal, select
from sqlalchemy.orm import Session

from idp import audit, session_rows
from idp.models import LoginThrottle

_THROTTLES = cast(Table, LoginThrottle.__table__)
# One: the success's own row. Others recorded in the transaction (none on this path
# today) are written at the commit, as usual.
AUDIT_ROWS = 1
# The statement for each guard (the guards are built once, by their owners) and the
# session's write it carries, if any.
_BUILT: dict[tuple[Any, session_rows.WriteShape | None], Any] = {}


@dataclass(frozen=True)
class Guard:
    """The conditional write that makes a code count once (S11): ``statement``, built
    once, returns the row it wrote, or none when the code's step was used already;
    ``params`` its values; ``claimed`` tells its owner it was written."""

    statement: Any
    params: dict[str, Any]
    claimed: Callable[[], None]


def in_one_statement(db: Session) -> bool:
    """Whether a guarded code's writes go as one statement (PostgreSQL)."""
    return db.get_bind().dialect.name == "postgresql"


def write(db: Session, guard: Guard, clear_keys: list[str], success: dict[str, Any],
          session: bool = False) -> bool:
    """Run ``guard`` and, only when it wrote, the counts' clear (``clear_keys``, keys of
    ``login_throttles``) and the audit row ``success`` (``idp.audit.row``), as one
    statement in the session's transaction; the caller commits. True when the guard
    wrote (then ``guard.claimed`` has run); False: nothing was written.

    ``session``: the session write waiting in ``db`` (the renewal the caller queued,
    ``idp.session_rows.take_pending_write``) rides in the statement too, written only
    when the guard wrote, and the statement goes alone (autocommit) when nothing else
    of the request waits: the caller's commit then sends nothing."""
    params = dict(guard.params)
    params["clear_keys"] = clear_keys
    audit.bind_rows(params, [success])
    pending = session_rows.take_pending_write(db) if session else None
    session_rows.bind_write(params, pending)
    statement = _combined(guard.statement, pending.shape if pending is not None else None)
    if session:
        result = session_rows.write_alone(db, statement, params)
    else:
        result = db.connection().execute(statement, params)
    wrote = result.first() is not None
    if wrote:
        guard.claimed()
        session_rows.written(pending)
    return wrote


def proven(guard: Any) -> Any:
    """A condition true only when ``guard`` (the CTE) returned a row."""
    return exists(select(literal(1)).select_from(guard))


def _combined(guard_statement: Any, session: session_rows.WriteShape | None = None) -> Any:
    """The one statement for ``guard_statement`` (and the session's write of shape
    ``session``, conditional on the guard), built on first use and then reused
    (compiled once by SQLAlchemy's cache)."""
    statement = _BUILT.get((guard_statement, session))
    if statement is None:
        guard = guard_statement.cte("guard")
        cleared = delete(_THROTTLES).where(
            _THROTTLES.c.key.in_(bindparam("clear_keys", expanding=True)), proven(guard))
        statement = select(*guard.c).add_cte(cleared.cte("cleared"))
        statement = session_rows.with_write_as_cte(statement, session, only_with=guard)
        statement = audit.with_rows_as_ctes(statement, AUDIT_ROWS, only_with=guard)
        _BUILT[(guard_statement, session)] = statement
    return statement
