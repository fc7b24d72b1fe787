"""A right password's clear and its audit rows, in one statement on PostgreSQL (issue 11).

A right password forgets the password step's count (D4, S7: the second factor's is kept)
and records its audit row (``login.success``, or ``login.revoked``; ``password.rehashed``
beside it when the hash was renewed). They were two round trips: the DELETE, then the
audit INSERT at the commit. On PostgreSQL they are one: the DELETE with each audit row
as a data-modifying CTE (``WITH audit0 AS (INSERT INTO audit_events ...) DELETE FROM
login_throttles ...``), run in full, in the step's transaction, all or nothing. SQLite
(no data-modifying CTEs, and no round trip to save) sends the DELETE alone and the audit
rows at the commit, as everywhere else (``idp.audit``).

The statement is built once and compiled once (the audit row as one CTE, as in
``idp.oidc.authorize_writes``). A rehash's second row leaves both rows to the commit.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, bindparam, delete
from sqlalchemy.orm import Session

from idp import audit
from idp.models import LoginThrottle
from idp.throttle import PASSWORD_STEP, Throttle

_THROTTLES = cast(Table, LoginThrottle.__table__)
# One: the CTEs of one statement run in no set order, so two rows (a rehash beside the
# success) could take their ids in either order; they are written at the commit, in
# the order recorded, with the clear alone (a rehash is rare).
MAX_AUDIT_ROWS = 1
_CLEAR = delete(_THROTTLES).where(_THROTTLES.c.key == bindparam("throttle_key"))
_BUILT: dict[int, Any] = {}


def clear_password_count(db: Session, throttle: Throttle, username_key: str) -> None:
    """Forget ``username_key``'s password-step count in the session's transaction, with
    the audit rows recorded so far (PostgreSQL); the caller commits."""
    connection = db.connection()
    params: dict[str, Any] = {"throttle_key": throttle.key_for(username_key, PASSWORD_STEP)}
    if connection.dialect.name != "postgresql":
        connection.execute(_CLEAR, params)
        return
    rows = audit.take_pending(db, MAX_AUDIT_ROWS)
    audit.bind_rows(params, rows)
    statement = _BUILT.get(len(rows))
    if statement is None:
        statement = _BUILT[len(rows)] = audit.with_rows_as_ctes(_CLEAR, len(rows))
    connection.execute(statement, params)
