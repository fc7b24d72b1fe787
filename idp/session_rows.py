"""The ``sessions`` table read and written with prebuilt Core statements (issue 11).

A web session is read on every browser request and written on most form POSTs. As an
ORM object it cost about 400 Python calls per request for its instance state, identity
map entry and flush; here it is a :class:`SessionRow`, a plain object with the table's
columns, and every write is one statement built once, its values bound per request:

- the read: the row with its account's columns, in one statement on the connection
  (no ORM execution); the account becomes an ORM object only when a view asks for it
  (:func:`account`), put in the identity map as if loaded, so ``Session.get`` finds
  it without a SELECT; a page that always reads more next adds its columns to that
  statement (:class:`Rider`: the second step's factor, /authorize's portal);
- a renewal (S20): one UPDATE moving the row to its new id with what the step changed,
  or, when the old row is gone, one INSERT for the password step only (a fresh sign-in
  of its own); a session ended while its second factor was checked stays ended (S21,
  :func:`write_pending`);
- a change of the data or the activity time: one UPDATE of just the changed columns,
  so two tabs of one session do not write back each other's stale copy;
- an ending: one DELETE.

A renewal is written late, like the ORM's flush: before the next statement sent through
``Session.execute`` (whatever later reads or ``execute_alone`` writes joins the same
transaction), else at the commit, so the data a step stores after renewing rides in the
same statement. A rollback forgets it; the old row and token stay as they were.

On PostgreSQL a step whose own writes are one statement takes the waiting write into
it as a data-modifying CTE (:func:`take_pending_write`, :func:`with_write_as_cte`,
:func:`bind_write`, as ``idp.audit`` does for its rows): the step's writes are then one
statement, sent alone in autocommit, where a BEGIN, the step's statement, the session's
UPDATE and a COMMIT were four round trips (issue 11).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Literal, NamedTuple, Protocol, cast

from sqlalchemy import Table, bindparam, delete, event, exists, insert, literal, select, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, make_transient_to_detached
from sqlalchemy.orm.attributes import manager_of_class

from idp import audit
from idp.db import execute_alone, execute_alone_on_connection
from idp.models import Account, WebSession

SESSIONS = cast(Table, WebSession.__table__)
ACCOUNTS = cast(Table, Account.__table__)
COLUMNS = ("id", "account_id", "level", "data", "created_at", "last_seen_at",
           "expires_at", "auth_time", "amr")


class SessionLike(Protocol):
    """What the session rules read of a session: a :class:`SessionRow`, or an ORM
    ``WebSession`` (a test's, the admin's)."""

    @property
    def id(self) -> str: ...
    @property
    def account_id(self) -> int | None: ...
    @property
    def level(self) -> str: ...
    @property
    def data(self) -> dict[str, Any]: ...
    @property
    def last_seen_at(self) -> datetime: ...
    @property
    def expires_at(self) -> datetime | None: ...


@dataclass(eq=False, slots=True)
class SessionRow:
    """One session as read or about to be written; no ORM state. ``stored_data`` and
    ``stored_seen`` are what the database holds (None before the row's first write),
    so :func:`write_changes` writes only what changed."""

    id: str
    account_id: int | None
    level: str
    data: dict[str, Any]
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime | None = None
    auth_time: datetime | None = None
    amr: str | None = None
    stored_data: dict[str, Any] | None = field(default=None, repr=False)
    stored_seen: datetime | None = field(default=None, repr=False)

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in COLUMNS}

    def mark_stored(self) -> None:
        self.stored_data, self.stored_seen = self.data, self.last_seen_at


def row_of(found: Any) -> SessionRow:
    """A :class:`SessionRow` from a result row that has the table's columns."""
    row = SessionRow(found.id, found.account_id, found.level, found.data or {},
                     found.created_at, found.last_seen_at, found.expires_at,
                     found.auth_time, found.amr)
    row.mark_stored()
    return row


# The row with its account's columns (NULLs for an anonymous session), labelled apart.
_ACCOUNT_KEYS = tuple(column.key for column in ACCOUNTS.c)
_ACCOUNT_AT = len(SESSIONS.c)  # where the account's columns start in the read's row
_RIDER_AT = _ACCOUNT_AT + len(ACCOUNTS.c)  # where a rider's columns start
_READ = (select(*SESSIONS.c, *(column.label(f"account__{column.key}") for column in ACCOUNTS.c))
         .select_from(SESSIONS.outerjoin(ACCOUNTS, SESSIONS.c.account_id == ACCOUNTS.c.id))
         .where(SESSIONS.c.id == bindparam("key")))
_READ_ACCOUNT = "clef.session_rows.account"  # the read's account: its Row, then the object
_STATUS_AT = _ACCOUNT_AT + _ACCOUNT_KEYS.index("status")
_SELECT_WHERE = select(SESSIONS)
_INSERT = insert(SESSIONS)
_MOVE = update(SESSIONS).where(SESSIONS.c.id == bindparam("old_id")).values(
    {name: bindparam(f"new_{name}") for name in COLUMNS})
_WHERE_ID = SESSIONS.c.id == bindparam("key")
_SET_DATA = update(SESSIONS).where(_WHERE_ID).values(data=bindparam("new_data"))
_SET_SEEN = update(SESSIONS).where(_WHERE_ID).values(last_seen_at=bindparam("new_seen"))
_SET_BOTH = update(SESSIONS).where(_WHERE_ID).values(data=bindparam("new_data"),
                                                     last_seen_at=bindparam("new_seen"))
_DELETE = delete(SESSIONS).where(_WHERE_ID)
# [(row, id of the row it replaces or None, whether to insert it when that row is gone)]
_PENDING = "clef.session_rows.pending"
_CHANGED = "clef.session_rows.changed"  # [row] whose changes go with the transaction


@dataclass(frozen=True, eq=False)  # found by identity: SQL expressions have no plain ``==``
class Rider:
    """Columns one page reads with its session's row, in the read's own statement: a
    round trip less on a page that always reads them next (issue 11; the second step's
    page reads the account's factor this way, ``mfa.factors``; /authorize its portal,
    ``idp.oidc.authorize_reads``). ``columns`` may name the account's columns
    (``ACCOUNTS``) and those of ``joins``, each outer-joined to the read on its
    condition, so they are NULL on an anonymous session. ``params``, given the request,
    binds the parameters they name (never ``key``), or answers None when the request
    cannot use them (the session is then read alone). The values are kept for the
    request with the account's id and those parameters, for :func:`take_rider` (once)."""

    key: str  # where the values wait in ``db.info``
    columns: tuple[Any, ...]
    joins: tuple[tuple[Table, Any], ...] = ()
    params: Callable[[Any], dict[str, Any] | None] | None = None

    @cached_property
    def read(self) -> Any:
        """The session's read with these columns and joins, built once."""
        statement = _READ.add_columns(*self.columns)
        for table, condition in self.joins:
            statement = statement.outerjoin(table, condition)
        return statement


class Carried(NamedTuple):
    """A rider's values as the session's read found them, and the parameters it bound."""

    values: tuple[Any, ...]
    params: dict[str, Any]


def read(db: Session, key: str, rider: Rider | None = None,
         request: Any = None) -> SessionRow | None:
    """The session keyed ``key``, or None; its account is kept for :func:`account`,
    and ``rider``'s values, when the session has an account, for :func:`take_rider`.
    On the connection: a Core SELECT needs none of the ORM's execution (issue 11)."""
    params: dict[str, Any] | None = {}
    if rider is not None and rider.params is not None:
        params = rider.params(request)
    if params is None:  # the request cannot use the rider: the session alone
        rider, params = None, {}
    statement = _READ if rider is None else rider.read
    found: Row[Any] | None = db.connection().execute(statement, {**params, "key": key}).first()
    signed = found if found is not None and found.account_id is not None else None
    db.info[_READ_ACCOUNT] = signed
    if rider is not None:
        db.info[rider.key] = None if signed is None else (
            signed.account_id, Carried(tuple(signed[_RIDER_AT:]), params))
    return row_of(found) if found is not None else None


def take_rider(db: Session, rider: Rider, account_id: int) -> Carried | None:
    """``rider``'s values as this request's session read them (in its columns' order)
    with the parameters it bound, when they were read for ``account_id``; else None
    (the caller reads them itself). Taken once: a later call in the request reads
    afresh."""
    kept = db.info.pop(rider.key, None)
    if kept is None or kept[0] != account_id:
        return None
    carried: Carried = kept[1]
    return carried


def account(db: Session, account_id: int) -> Account | None:
    """The account ``account_id`` as an ORM object: the one the session's read found,
    made persistent in ``db`` as if the ORM had loaded it (the same values, nothing
    modified), unless ``db`` holds it already; else ``Session.get`` (a SELECT).

    The object is built as the ORM's loader builds one (a new instance, its column
    values in its ``__dict__``) and attached with the public
    ``make_transient_to_detached`` and ``add``: about 90 calls, where an ORM query of the
    session's row with its account cost 130 more (issue 11). Kept in ``db.info`` for
    the request: the identity map holds objects weakly. tests/idp/test_session_rows.py
    compares it with the ORM's own loading."""
    kept = db.info.get(_READ_ACCOUNT)
    if isinstance(kept, Account) and kept.id == account_id:
        return kept
    if kept is not None and not isinstance(kept, Account) and kept.account_id == account_id \
            and db.identity_map.get(identity_key(account_id)) is None:
        built = manager_of_class(Account).new_instance()
        built.__dict__.update(zip(_ACCOUNT_KEYS, kept[_ACCOUNT_AT:_RIDER_AT], strict=True))
        make_transient_to_detached(built)
        db.add(built)
        db.info[_READ_ACCOUNT] = built
        return built
    found = db.get(Account, account_id)
    if found is not None:
        db.info[_READ_ACCOUNT] = found
    return found


def read_account_status(db: Session) -> str | None:
    """The status of the account the session's read found with it (None: none, an
    anonymous session), read from that same row: no statement."""
    kept = db.info.get(_READ_ACCOUNT)
    if kept is None:
        return None
    return str(kept.status) if isinstance(kept, Account) else kept[_STATUS_AT]


def identity_key(account_id: int) -> Any:
    return Session.identity_key(Account, account_id)


def select_rows(db: Session, *conditions: Any) -> list[SessionRow]:
    """The sessions matching ``conditions`` (the purge, the endings)."""
    return [row_of(found) for found in db.execute(_SELECT_WHERE.where(*conditions))]


def insert_row(db: Session, row: SessionRow) -> None:
    db.connection().execute(_INSERT, row.values())
    row.mark_stored()


def delete_row(db: Session, row: SessionLike) -> None:
    """The row gone now; a renewal of it still waiting is dropped with it."""
    key = forget(db, row) if isinstance(row, SessionRow) else row.id
    if key is not None:
        db.connection().execute(_DELETE, {"key": key})


def queue_renewal(db: Session, new: SessionRow, old: SessionRow | None,
                  revive: bool = True) -> None:
    """``new`` replaces ``old`` (None: a row of its own) at the next write. ``revive``:
    insert ``new`` when ``old``'s row is gone by then. Renewed again before then (a
    partner's sign-in passes both steps in one request), the row still to move is the
    first one's, now to the last token, as the first renewal said."""
    pending: list[tuple[SessionRow, str | None, bool]] = db.info.setdefault(_PENDING, [])
    for at, (waiting, old_id, first_revive) in enumerate(pending):
        if waiting is old:
            pending[at] = (new, old_id, first_revive)
            return
    pending.append((new, old.id if old is not None else None, revive))


def forget(db: Session, row: SessionRow) -> str | None:
    """Drop ``row``'s waiting renewal; returns the id its row has in the database now
    (None: not written yet, nothing to delete)."""
    pending: list[tuple[SessionRow, str | None, bool]] = db.info.get(_PENDING, [])
    for at, (waiting, old_id, _revive) in enumerate(pending):
        if waiting is row:
            del pending[at]
            return old_id
    return row.id


def forget_renewal(db: Session, old: SessionRow) -> None:
    """Drop any waiting renewal of ``old``'s row (a sign-in taken back before it was
    written: ``idp.web_session.kept_as_now``); the row keeps its id and token."""
    pending: list[tuple[SessionRow, str | None, bool]] = db.info.get(_PENDING, [])
    pending[:] = [entry for entry in pending if entry[1] != old.id]


def queue_changes(db: Session, row: SessionRow) -> None:
    """Write ``row``'s changes (:func:`write_changes`) with the transaction, before its
    next statement or at its commit, as the ORM's flush would."""
    changed: list[SessionRow] = db.info.setdefault(_CHANGED, [])
    if row not in changed:
        changed.append(row)


def unwritten(db: Session) -> bool:
    """Whether a renewal or a change waits for its write (the request must commit)."""
    return bool(db.info.get(_PENDING) or db.info.get(_CHANGED))


def write_pending(db: Session) -> None:
    """Write each waiting renewal: one UPDATE moving the old row to the new id and
    values. If the old row is gone (a second request renewed it first, a logout in
    another tab, the admin's revocation), the new row is inserted, as a copy would have
    been, when the renewal revives; else nothing is written and the new token finds
    nothing, like the old one (S21)."""
    pending: list[tuple[SessionRow, str | None, bool]] | None = db.info.pop(_PENDING, None)
    for row, old_id, revive in pending or ():
        if old_id is not None:
            values = {f"new_{name}": value for name, value in row.values().items()}
            moved = db.connection().execute(_MOVE, {"old_id": old_id, **values})
            if moved.rowcount == 1:
                row.mark_stored()
                continue
        if revive:
            insert_row(db, row)
    for row in db.info.pop(_CHANGED, None) or ():
        write_changes(db, row, alone=False)


def has_changes(row: SessionRow) -> bool:
    """Whether ``row``'s data or activity time differ from what its stored row holds
    (a renewal still to write carries them: False)."""
    return row.stored_data is not None and (
        row.data != row.stored_data or row.last_seen_at != row.stored_seen)


def write_changes(db: Session, row: SessionRow, alone: bool) -> bool:
    """Write what changed in ``row`` since it was read or written (its data, its
    activity time): one UPDATE of those columns, or nothing. ``alone``: the statement
    is the transaction's only write (``idp.db.execute_alone``). A row ended meanwhile
    by another request is not found and stays ended. True when it wrote."""
    if not has_changes(row):
        return False
    data = row.data != row.stored_data
    seen = row.last_seen_at != row.stored_seen
    statement = _SET_BOTH if data and seen else _SET_DATA if data else _SET_SEEN
    params = {"key": row.id, "new_data": row.data, "new_seen": row.last_seen_at}
    if alone:
        write_alone(db, statement, params)
    else:
        db.connection().execute(statement, params)
    row.mark_stored()
    return True


def write_alone(db: Session, statement: Any, params: dict[str, Any]) -> Any:
    """``execute_alone``, on the connection when ``db`` holds nothing else unwritten
    (the common case: the page's only write), through the ORM session otherwise (its
    changes and audit rows first, in one transaction). Returns the statement's result
    (a claim's or a guard's ``RETURNING``)."""
    if db.new or db.dirty or db.deleted or audit.unwritten(db) or unwritten(db):
        return execute_alone(db, statement, params)
    return execute_alone_on_connection(db, statement, params)


# --- the waiting write as a CTE of a step's statement (PostgreSQL, issue 11) ---------

# What the waiting write is, so the statement carrying it is built once per shape: a
# renewal's move (``revive``: or, the old row gone, an insert), a new row, a change.
WriteShape = Literal["move", "move_or_insert", "insert", "data", "seen", "data_seen"]


@dataclass(frozen=True, slots=True)
class PendingWrite:
    """A session write taken from the request's transaction (:func:`take_pending_write`)
    for the caller's own statement: its CTE's ``shape``, the values it binds (names
    ``session_*``) and the row it writes, marked stored by :func:`written`."""

    shape: WriteShape
    params: dict[str, Any]
    row: SessionRow


def take_pending_write(db: Session) -> PendingWrite | None:
    """The session write waiting in ``db``'s transaction (a renewal, or one row's
    changed data or activity time), taken for the caller to write as a CTE of its own
    statement (:func:`with_write_as_cte`), as :func:`write_pending` would have at the
    commit; None when nothing waits or more than one write does (they are then written
    at the commit, as usual).

    The same rules as :func:`write_pending`: the move finds the old row by its old id,
    so a session ended meanwhile (a logout in another tab, the admin's revocation, a
    second request that moved it first) is not found; a renewal that revives then
    inserts its row (a fresh sign-in of its own), one that does not leaves the session
    ended (S21). Only the changed columns of a change are written."""
    pending: list[tuple[SessionRow, str | None, bool]] = db.info.get(_PENDING) or []
    changed: list[SessionRow] = db.info.get(_CHANGED) or []
    if len(pending) + len(changed) != 1:
        return None
    if pending:
        row, old_id, revive = pending[0]
        params = {f"session_new_{name}": value for name, value in row.values().items()}
        shape: WriteShape = "insert"
        if old_id is not None:
            params["session_old_id"] = old_id
            shape = "move_or_insert" if revive else "move"
        del db.info[_PENDING]
        return PendingWrite(shape, params, row)
    row = changed[0]
    del db.info[_CHANGED]
    if not has_changes(row):
        return None
    data, seen = row.data != row.stored_data, row.last_seen_at != row.stored_seen
    shape = "data_seen" if data and seen else "data" if data else "seen"
    return PendingWrite(shape, {"session_key": row.id, "session_new_data": row.data,
                                "session_new_last_seen_at": row.last_seen_at}, row)


def _bind(name: str, column: str) -> Any:
    return bindparam(name, type_=SESSIONS.c[column].type)


_NEW = {name: _bind(f"session_new_{name}", name) for name in COLUMNS}
_COLUMN_KEYS = frozenset(column.key for column in SESSIONS.c)
_MOVED_FROM = SESSIONS.c.id == _bind("session_old_id", "id")
_CHANGED_ROW = SESSIONS.c.id == _bind("session_key", "id")


def with_write_as_cte(statement: Any, shape: WriteShape | None, only_with: Any = None) -> Any:
    """``statement`` with a session write of ``shape`` as data-modifying CTEs
    (PostgreSQL: ``WITH session_move AS (UPDATE sessions ...) ...``), all or nothing
    with it: one statement is atomic, inside a transaction or alone. None: unchanged.
    A move that revives inserts its row only when the move found nothing
    (``session_insert AS (INSERT ... SELECT ... WHERE NOT EXISTS (SELECT FROM
    session_move))``): a renewal is one row whichever way. ``only_with``: a CTE of the
    statement (a conditional write's ``RETURNING``, ``mfa.second_step_writes``' guard);
    the session is then written only when it returned a row (``AND EXISTS (SELECT 1
    FROM guard)``), so a refused code renews nothing. Build it once per shape (the CTEs
    bind their values: one compiled form, cached); bind with :func:`bind_write`."""
    if shape is None:
        return statement
    proven = [] if only_with is None else [exists(select(literal(1)).select_from(only_with))]
    if shape in ("move", "move_or_insert"):
        move = update(SESSIONS).where(_MOVED_FROM, *proven).values(_NEW)
        if shape == "move":
            return statement.add_cte(move.cte("session_move"))
        moved = move.returning(SESSIONS.c.id).cte("session_move")
        revived = insert(SESSIONS).from_select(
            list(COLUMNS), select(*_NEW.values()).where(~exists(select(moved.c.id)), *proven))
        return statement.add_cte(moved).add_cte(revived.cte("session_insert"))
    if shape == "insert":
        fresh = insert(SESSIONS).values(_NEW) if not proven else insert(SESSIONS).from_select(
            list(COLUMNS), select(*_NEW.values()).where(*proven))
        return statement.add_cte(fresh.cte("session_insert"))
    columns = {"data": ("data",), "seen": ("last_seen_at",),
               "data_seen": ("data", "last_seen_at")}[shape]
    change = update(SESSIONS).where(_CHANGED_ROW, *proven).values(
        {name: _NEW[name] for name in columns})
    return statement.add_cte(change.cte("session_change"))


def bind_write(params: dict[str, Any], write: PendingWrite | None) -> None:
    """Add ``write``'s values (from :func:`take_pending_write`) to ``params``.

    No other key of ``params`` may be named as a column of ``sessions`` (``id``,
    ``account_id``, ``created_at``...): SQLAlchemy takes the keys of an execution's
    parameters named as a table's columns as values for EVERY INSERT or UPDATE of that
    table in the statement, CTEs included, so a change's UPDATE would write the
    caller's ``account_id`` into the session's row. Refused here (ValueError, a bug of
    the caller's); callers prefix their binds (``idp.oidc.authorize_writes``)."""
    if write is None:
        return
    if not _COLUMN_KEYS.isdisjoint(params):
        raise ValueError("parameters named as a column of sessions: "
                         f"{sorted(_COLUMN_KEYS.intersection(params))}")
    params.update(write.params)


def written(write: PendingWrite | None) -> None:
    """``write``'s statement ran: its row holds what the database holds, so the
    session's save writes only what changes after (nothing, usually). A renewal that
    found its session ended and did not revive it is marked too: a later change of it
    is an UPDATE of nothing, and the session stays ended."""
    if write is not None:
        write.row.mark_stored()


@event.listens_for(Session, "before_commit")
def _before_commit(db: Session) -> None:
    write_pending(db)


@event.listens_for(Session, "do_orm_execute")
def _before_statement(state: ORMExecuteState) -> None:
    # Like autoflush: a statement later in the transaction sees the renewal.
    if unwritten(state.session):
        write_pending(state.session)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(db: Session, previous: SessionTransaction) -> None:
    if previous.parent is None:  # the whole transaction, not a savepoint
        db.info.pop(_PENDING, None)
        db.info.pop(_CHANGED, None)
