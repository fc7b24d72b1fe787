"""The account of a password step, read in the throttle's claim (issue 11).

The password step counts the attempt first (S7: one statement, committed on its own
before argon2 runs), then needed the account: an ORM look-up of its own, a statement
and about 250 Python calls. The claim's ``RETURNING`` now carries the few columns the
step uses as scalar subqueries on the unique ``username_key`` (both databases evaluate
them), so the same statement counts the attempt and reads the account, for known and
unknown usernames alike (S6: the subqueries answer NULL for an unknown one; the work
and the statements are the same). A locked key returns no row: the refusal reads the
account as before, for its audit row.

The step's two rare writes to the account (the language of this sign-in when it
changed, a rehash) are Core UPDATEs of that one column in the step's transaction, as
the ORM's flush of the changed attribute would have sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, select, update
from sqlalchemy.orm import Session

from idp.models import Account
from idp.throttle import AlsoRead

_ACCOUNTS = cast(Table, Account.__table__)
_KEY = "claimed_account_key"  # apart from the claim's own parameters


def _of_key(column: Any, label: str) -> Any:
    return (select(column).where(_ACCOUNTS.c.username_key == bindparam(_KEY))
            .scalar_subquery().label(label))


# Built once: the throttle keeps its claim statement per tuple of columns.
COLUMNS = (
    _of_key(_ACCOUNTS.c.id, "account_id"),
    _of_key(_ACCOUNTS.c.username, "account_username"),
    _of_key(_ACCOUNTS.c.password_hash, "account_password_hash"),
    _of_key(_ACCOUNTS.c.status, "account_status"),
    _of_key(_ACCOUNTS.c.locale, "account_locale"),
)
_SET_LOCALE = update(_ACCOUNTS).where(_ACCOUNTS.c.id == bindparam("account_id")).values(
    locale=bindparam("locale"))
_SET_HASH = update(_ACCOUNTS).where(_ACCOUNTS.c.id == bindparam("account_id")).values(
    password_hash=bindparam("password_hash"))


@dataclass(frozen=True)
class PasswordAccount:
    """What the rest of the password step needs of the account whose password was
    right (the view, the session's move, the audit rows). No hash: it stays here."""

    id: int
    username: str
    status: str
    locale: str


def also_read(username_key: str) -> AlsoRead:
    """The account of ``username_key``, read in the claim's statement."""
    return AlsoRead(COLUMNS, {_KEY: username_key})


def from_claim(row: Row[Any]) -> tuple[PasswordAccount, str] | None:
    """The account and its password hash from the claim's row; None for an unknown
    username (every subquery NULL)."""
    _failures, account_id, username, password_hash, status, locale = tuple(row)
    if account_id is None:
        return None
    return PasswordAccount(account_id, username, status, locale), password_hash


def set_locale(db: Session, account: PasswordAccount, locale: str) -> None:
    """The language of this sign-in, for the account's mail; the caller commits. Only
    when it differs (the caller checks), as the ORM wrote nothing for an equal value."""
    db.connection().execute(_SET_LOCALE, {"account_id": account.id, "locale": locale})


def set_password_hash(db: Session, account: PasswordAccount, password_hash: str) -> None:
    """A rehash at the current parameters, in the step's transaction."""
    db.connection().execute(_SET_HASH, {"account_id": account.id, "password_hash": password_hash})
