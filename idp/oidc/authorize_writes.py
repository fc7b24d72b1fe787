"""What a consent answer writes with its code, in one statement on PostgreSQL (issue 11).

The person's "allow" writes five things in one transaction: the consent (an upsert),
the portal session that back-channel logout will need (an insert that leaves an
existing one alone), the audit rows, the code, and the web session's changed data (the
S37 marker gone, ``idp.session_rows``). They were five statements, each a round trip,
in a BEGIN and a COMMIT. On PostgreSQL they are one: the code's INSERT with the others
as data-modifying CTEs (``WITH consent AS (INSERT ...), portal_session AS (...),
audit0 AS (...), session_change AS (UPDATE sessions ...) INSERT INTO oauth_codes ...``),
which PostgreSQL runs in full, on one snapshot, all or nothing, sent alone in autocommit
when nothing else of the request waits (``idp.db.execute_alone``): a code refused by the
unique index on its client and nonce (S35) keeps no consent, no portal session, no
audit row and no session change, as before. SQLite (no data-modifying CTEs, and no
round trip to save) runs them one after the other in the same transaction, the audit
rows and the session at the commit as everywhere else (``idp.audit``).

The statements are built once per shape (consent or not, how many audit rows, the
session's write), bind only their values, and are compiled once by SQLAlchemy's cache
(one CTE an audit row: a multi-row VALUES would make the statement uncacheable,
compiled at every request; tests/oidc/test_issue11_authorize_writes.py checks each
shape has a cache key).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from idp import audit, session_rows
from idp.oidc.models import AuthorizationCode, Consent, PortalSession

_CODES = cast(Table, AuthorizationCode.__table__)
_CONSENTS = cast(Table, Consent.__table__)
_PORTAL_SESSIONS = cast(Table, PortalSession.__table__)
MAX_AUDIT_ROWS = 4  # more pending (never on this path today) are written at the commit


@dataclass
class WithCode:
    """The rows the authorize view decided to write with the code: the consent given
    (None when none was asked) and the portal session (None before the view got so
    far). Values are the tables' columns."""

    consent: dict[str, Any] | None = None
    portal_session: dict[str, Any] | None = None


def write(db: Session, code: dict[str, Any], others: WithCode | None) -> None:
    """Write ``code`` (a row of ``oauth_codes``) and ``others`` in the session's
    transaction; the caller commits right after, writing nothing else between (on
    PostgreSQL the statement is the whole transaction when nothing else waits). Raises
    ``IntegrityError`` as the code's INSERT alone would (a nonce used before), with
    nothing of the five written: the session's change is then the session's save's, as
    before."""
    others = others or WithCode()
    connection = db.connection()
    if connection.dialect.name != "postgresql":
        if others.consent is not None:
            connection.execute(_SQLITE_CONSENT, others.consent)
        if others.portal_session is not None:
            connection.execute(_SQLITE_PORTAL_SESSION, others.portal_session)
        connection.execute(_CODE_INSERT, code)
        return
    rows = audit.take_pending(db, MAX_AUDIT_ROWS)
    session = session_rows.take_pending_write(db)
    statement = _combined(others.consent is not None, others.portal_session is not None,
                          len(rows), session.shape if session is not None else None)
    params: dict[str, Any] = {}
    _prefixed(params, "code_", code)
    _prefixed(params, "consent_", others.consent)
    _prefixed(params, "portal_", others.portal_session)
    audit.bind_rows(params, rows)
    session_rows.bind_write(params, session)
    session_rows.write_alone(db, statement, params)
    session_rows.written(session)


def _prefixed(params: dict[str, Any], prefix: str, values: dict[str, Any] | None) -> None:
    for key, value in (values or {}).items():
        params[prefix + key] = value


def _binds(table: Table, prefix: str, names: Iterable[str]) -> dict[str, Any]:
    return {name: bindparam(prefix + name, type_=table.c[name].type) for name in names}


_CODE_INSERT = insert(_CODES)  # SQLite: the code alone (built once)
_CONSENT_COLUMNS = ("account_id", "client_id", "scope", "granted_at")
_PORTAL_COLUMNS = ("sid", "client_id", "account_id", "created_at")
_BUILT: dict[tuple[bool, bool, int, session_rows.WriteShape | None], Any] = {}


def _consent_upsert(dialect_insert: Callable[..., Any], prefix: str = "") -> Any:
    fresh = dialect_insert(_CONSENTS).values(_binds(_CONSENTS, prefix, _CONSENT_COLUMNS))
    return fresh.on_conflict_do_update(
        index_elements=[_CONSENTS.c.account_id, _CONSENTS.c.client_id],
        set_={"scope": fresh.excluded.scope, "granted_at": fresh.excluded.granted_at})


def _portal_session_insert(dialect_insert: Callable[..., Any], prefix: str = "") -> Any:
    return dialect_insert(_PORTAL_SESSIONS).values(
        _binds(_PORTAL_SESSIONS, prefix, _PORTAL_COLUMNS)).on_conflict_do_nothing(
        index_elements=[_PORTAL_SESSIONS.c.sid, _PORTAL_SESSIONS.c.client_id])


_SQLITE_CONSENT = _consent_upsert(sqlite.insert)  # built once (issue 11)
_SQLITE_PORTAL_SESSION = _portal_session_insert(sqlite.insert)


def _combined(consent: bool, portal_session: bool, audit_rows: int,
              session: session_rows.WriteShape | None = None) -> Any:
    """PostgreSQL's one statement for this shape, built on first use."""
    shape = (consent, portal_session, audit_rows, session)
    statement = _BUILT.get(shape)
    if statement is None:
        # Every bind prefixed: a key of the parameters named as a column of a table a
        # CTE updates would be written to it too (idp.session_rows.with_write_as_cte).
        statement = insert(_CODES).values(_binds(_CODES, "code_", [c.key for c in _CODES.c]))
        if consent:
            statement = statement.add_cte(_consent_upsert(postgresql.insert, "consent_")
                                          .cte("consent"))
        if portal_session:
            statement = statement.add_cte(_portal_session_insert(postgresql.insert, "portal_")
                                          .cte("portal_session"))
        statement = audit.with_rows_as_ctes(statement, audit_rows)
        statement = session_rows.with_write_as_cte(statement, session)
        _BUILT[shape] = statement
    return statement
