"""A right password's writes in one statement on PostgreSQL (issue 11).

A right password forgets the password step's count (D4, S7: the second factor's is kept),
records its audit row (``login.success``, or ``login.revoked``; ``password.rehashed``
beside it when the hash was renewed) and moves the session to its new token (S20,
``idp.session_rows``). They were four round trips after the claim: BEGIN, the DELETE,
the session's UPDATE and COMMIT (the audit INSERT at the commit before that). On
PostgreSQL they are one: the DELETE with the audit row and the session's move as
data-modifying CTEs (``WITH audit0 AS (INSERT INTO audit_events ...), session_move AS
(UPDATE sessions ...) DELETE FROM login_throttles ...``), run in full, all or nothing,
and sent alone in autocommit (``idp.db.execute_alone``) when nothing else of the step
waits; the caller's commit then sends nothing. Whatever else the step writes (a rehash's
new hash, the account's language) has begun the transaction already, and the statement
joins it, committed with it as before. SQLite (no data-modifying CTEs, and no round trip
to save) sends the DELETE alone, the audit rows and the session at the commit, as
everywhere else (``idp.audit``, ``idp.session_rows``).

The statement is built once per shape and compiled once (the audit row as one CTE, as
in ``idp.oidc.authorize_writes``). A rehash's second row leaves both rows to the commit.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, bindparam, delete
from sqlalchemy.orm import Session

from idp import audit, session_rows
from idp.models import LoginThrottle
from idp.throttle import PASSWORD_STEP, Throttle

_THROTTLES = cast(Table, LoginThrottle.__table__)
# One: the CTEs of one statement run in no set order, so two rows (a rehash beside the
# success) could take their ids in either order; they are written at the commit, in
# the order recorded, with the clear alone (a rehash is rare).
MAX_AUDIT_ROWS = 1
_CLEAR = delete(_THROTTLES).where(_THROTTLES.c.key == bindparam("throttle_key"))
_BUILT: dict[tuple[int, session_rows.WriteShape | None], Any] = {}


def clear_password_count(db: Session, throttle: Throttle, username_key: str,
                         last: bool = False) -> None:
    """Forget ``username_key``'s password-step count in the session's transaction, with
    the audit rows recorded and the session write queued so far (PostgreSQL); the
    caller commits. ``last``: the step writes nothing more before that commit, so the
    statement may be the whole transaction (autocommit; the commit then sends nothing)."""
    connection = db.connection()
    params: dict[str, Any] = {"throttle_key": throttle.key_for(username_key, PASSWORD_STEP)}
    if connection.dialect.name != "postgresql":
        connection.execute(_CLEAR, params)
        return
    rows = audit.take_pending(db, MAX_AUDIT_ROWS)
    session = session_rows.take_pending_write(db)
    audit.bind_rows(params, rows)
    session_rows.bind_write(params, session)
    shape = (len(rows), session.shape if session is not None else None)
    statement = _BUILT.get(shape)
    if statement is None:
        statement = _BUILT[shape] = session_rows.with_write_as_cte(
            audit.with_rows_as_ctes(_CLEAR, len(rows)), shape[1])
    if last:  # alone (autocommit) when nothing else waits; else with the rest
        session_rows.write_alone(db, statement, params)
    else:
        connection.execute(statement, params)
    session_rows.written(session)
