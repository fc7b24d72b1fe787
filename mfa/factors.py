"""The second factor an account signs in with (J8, S10-S12): set it up, check a code,
re-encrypt secrets under a new key.

Views look up, call and render; the security decisions (which TOTP steps count, replay,
encryption) are made here. The sign-in throttle and the session are the caller's.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple, cast

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from idp.models import Account
from idp.secret_box import SecretBox
from idp.session_rows import Rider, take_rider
from idp.settings import MfaSettings
from mfa.models import EMAIL, TOTP, SecondFactor, SecurityKey
from mfa.second_step_writes import Guard
from mfa.security_keys import AMR_HARDWARE_KEY, SecurityKeys
from mfa.totp import Totp

# amr values (RFC 8176 where it has one) per factor; D2: the ID token says what was used.
AMR_PASSWORD = "pwd"  # noqa: S105 - an amr value, not a secret
AMR = {TOTP: "otp", EMAIL: "mail"}
AMR_RECOVERY_CODE = "kba"
_FACTORS = cast(Table, SecondFactor.__table__)
# S11: a TOTP step is claimed once, by one conditional UPDATE built once on the table
# (the ORM entity's UPDATE takes the ORM's bulk path; issue 11), its values bound.
_CLAIM_TOTP_STEP = (
    update(_FACTORS)
    .where(_FACTORS.c.account_id == bindparam("account"),
           or_(_FACTORS.c.last_totp_step.is_(None), _FACTORS.c.last_totp_step < bindparam("step")))
    .values(last_totp_step=bindparam("step"))
)
# The same claim as the guard of a success's one statement on PostgreSQL: the row it
# claimed, or none (mfa.second_step_writes). Built once: the statement is kept per guard.
_CLAIM_TOTP_STEP_RETURNING = _CLAIM_TOTP_STEP.returning(_FACTORS.c.account_id)
# An account's factors: the look-up of every second step, built once (issue 11).
_OF_ACCOUNT = select(SecondFactor).where(SecondFactor.account_id == bindparam("account"))
_ACCOUNTS = cast(Table, Account.__table__)
_KEYS = cast(Table, SecurityKey.__table__)
# What the challenge needs, in one read built once (issue 11): the account's factor, if
# any (an outer join from the account's row), and how many security keys it holds.
_KEY_COUNT = (select(func.count()).select_from(_KEYS)
              .where(_KEYS.c.account_id == _ACCOUNTS.c.id).scalar_subquery())
_FACTOR_OF_ACCOUNT = _FACTORS.c.account_id == _ACCOUNTS.c.id
_CHALLENGE = (
    select(_KEY_COUNT.label("keys"), *_FACTORS.c)
    .select_from(_ACCOUNTS.outerjoin(_FACTORS, _FACTOR_OF_ACCOUNT))
    .where(_ACCOUNTS.c.id == bindparam("account"))
)
# The same columns read with the session's row on the challenge's page, its GET and its
# POST (a round trip less on each; ``idp.session_rows.Rider``), named apart from the
# session's own columns; :meth:`SecondFactors.get_challenge` takes them.
CHALLENGE_RIDER = Rider(
    "mfa.challenge",
    (_KEY_COUNT.label("challenge__keys"),
     *(column.label(f"challenge__{column.key}") for column in _FACTORS.c)),
    ((_FACTORS, _FACTOR_OF_ACCOUNT),))
_FACTOR_KEYS = tuple(column.key for column in _FACTORS.c)
# The page it rides on: the challenge's (``mfa.views.challenge``, the blueprint's /2fa).
CHALLENGE_PATH = "/2fa/challenge"


class ChallengeFactors(NamedTuple):
    """What the second step of a sign-in may ask for (:meth:`SecondFactors.get_challenge`)."""

    factor: SecondFactor | None  # the app or email factor (J8), or None
    key_count: int  # the account's security keys (D3)


class SecondFactors:
    def __init__(self, settings: MfaSettings, box: SecretBox, keys: SecurityKeys) -> None:
        self._settings = settings
        self.box = box
        self._keys = keys

    def totp(self, secret: str) -> Totp:
        s = self._settings
        return Totp(secret, digits=s.totp_digits, period=s.totp_period_seconds,
                    drift=s.totp_drift_steps)

    def find_for(self, db: Session, account_id: int) -> list[SecondFactor]:
        """Every factor the account signs in with (today at most one; a list so that
        an account may hold several, e.g. security keys beside an app)."""
        return list(db.scalars(_OF_ACCOUNT, {"account": account_id}))

    def get(self, db: Session, account_id: int) -> SecondFactor | None:
        """The factor the screens show (the first of :meth:`find_for`), or None when
        the account has not set one up (J8)."""
        return next(iter(self.find_for(db, account_id)), None)

    def get_challenge(self, db: Session, account_id: int) -> ChallengeFactors:
        """The account's factor (as :meth:`get`) and how many security keys it holds
        (as ``SecurityKeys.count``), read fresh in one statement on the session's
        connection, outside the ORM's execution (issue 11: the challenge read them in
        two), unless the request's session read them already for this account
        (``CHALLENGE_RIDER``, the challenge's page). The factor is a new object not in
        the session: only read, or claimed through :meth:`claim_totp_step`, which
        writes by its own statement (the replay guard never trusts this read). No
        account: no factor and no key."""
        carried = take_rider(db, CHALLENGE_RIDER, account_id)
        if carried is not None:
            values = carried.values
        else:
            row = db.connection().execute(_CHALLENGE, {"account": account_id}).first()
            if row is None:
                return ChallengeFactors(None, 0)
            values = tuple(row)
        keys = int(values[0] or 0)
        factor = dict(zip(_FACTOR_KEYS, values[1:], strict=True))
        if factor["kind"] is None:  # the outer join found no factor
            return ChallengeFactors(None, keys)
        return ChallengeFactors(SecondFactor(**factor), keys)

    def has_any(self, db: Session, account_id: int) -> bool:
        """Whether the account has set up a second factor of any kind (J8): an app or
        email codes, or at least one security key (D3)."""
        return self.get(db, account_id) is not None or self._keys.count(db, account_id) > 0

    def describe(self, db: Session, account_id: int) -> list[str]:
        """One line per factor for ``clef users show``: kind, name and dates, never a
        secret or key material (S5)."""
        lines = []
        factor = self.get(db, account_id)
        if factor is not None:
            kind = "authenticator app" if factor.kind == TOTP else "email codes"
            lines.append(f"{kind} (added {factor.created_at:%Y-%m-%d})")
        for key in self._keys.find_for(db, account_id):
            used = f"{key.last_used_at:%Y-%m-%d}" if key.last_used_at else "never"
            kind = "passkey" if key.synced else "security key"
            lines.append(f"{kind} {key.name!r} (added {key.created_at:%Y-%m-%d}, last used {used})")
        return lines

    def amr_of(self, db: Session, account_id: int) -> str | None:
        """The amr value of the strongest factor the account has (D2, D3), or None: a
        security key when it has one (the provider only asks for a step-up it can get)."""
        if self._keys.count(db, account_id):
            return AMR_HARDWARE_KEY
        factor = self.get(db, account_id)
        return AMR.get(factor.kind) if factor is not None else None

    def confirm_totp(self, secret: str, typed: str, now: datetime) -> int | None:
        """The step of the first code typed while setting up, or None."""
        return self.totp(secret).matching_step(typed, now)

    def use_totp(self, db: Session, account_id: int, secret: str, step: int,
                 now: datetime) -> SecondFactor:
        """Make TOTP the account's factor, replacing any other. The step that confirmed
        it counts as used, so the same code cannot also pass a sign-in (S11)."""
        return self._replace(db, account_id, TOTP, now, self.box.seal(secret), step)

    def use_email(self, db: Session, account_id: int, now: datetime) -> SecondFactor:
        return self._replace(db, account_id, EMAIL, now, None, None)

    def _replace(self, db: Session, account_id: int, kind: str, now: datetime,
                 sealed: str | None, step: int | None) -> SecondFactor:
        factor = db.get(SecondFactor, account_id, with_for_update=True)
        if factor is None:
            factor = SecondFactor(account_id=account_id)
            db.add(factor)
        factor.kind, factor.totp_secret, factor.last_totp_step = kind, sealed, step
        factor.created_at = now
        return factor

    def claim_totp_step(self, db: Session, factor: SecondFactor, typed: str,
                        now: datetime) -> bool:
        """True when ``typed`` is the code of a step later than every step accepted
        before (S11). The step is claimed by one conditional UPDATE, so a code raced in
        by two requests passes once. The caller commits."""
        step = self.totp_step(factor, typed, now)
        if step is None:
            return False
        # On the session's connection: a Core UPDATE of one column needs none of the
        # ORM's execution machinery, and nothing the ORM holds unwritten bears on it.
        result = db.connection().execute(_CLAIM_TOTP_STEP,
                                         {"account": factor.account_id, "step": step})
        claimed = bool(result.rowcount)
        if claimed:
            # What the row now holds, known to the ORM as already stored: assigning it
            # would flush a second UPDATE of the same column at the commit (issue 11).
            set_committed_value(factor, "last_totp_step", step)
        return claimed

    def totp_step(self, factor: SecondFactor, typed: str, now: datetime) -> int | None:
        """The step of ``typed`` when it is a code of ``factor``'s app of a step later
        than the last one accepted as ``factor`` was read, else None (S11). Reads nothing:
        the step is used only once claimed (:meth:`claim_totp_step`, :meth:`step_guard`),
        where the database compares it with the row as it is then."""
        if factor.kind != TOTP or factor.totp_secret is None:
            return None
        secret = self.box.open(factor.totp_secret)
        return self.totp(secret).matching_step(typed, now, after=factor.last_totp_step)

    def step_guard(self, factor: SecondFactor, step: int) -> Guard:
        """The claim of ``step`` (from :meth:`totp_step`) as the guard of the success's
        one statement (PostgreSQL, ``mfa.second_step_writes``): the same conditional
        UPDATE as :meth:`claim_totp_step`, returning the row it claimed, so a step used
        meanwhile (a replay, the same code posted twice at once) writes nothing."""

        def claimed() -> None:
            set_committed_value(factor, "last_totp_step", step)

        return Guard(_CLAIM_TOTP_STEP_RETURNING, {"account": factor.account_id, "step": step},
                     claimed)

    def reseal_all(self, db: Session, box: SecretBox) -> int:
        """Re-encrypt every TOTP secret under the first key (``clef encryption reseal``).
        Returns how many rows changed; the caller commits. Each row is written only if it
        still holds the secret read (a compare-and-set): an app replaced meanwhile keeps
        its new secret (sealed under the first key already), never the old one back."""
        count = 0
        for account_id, sealed in db.execute(
                select(SecondFactor.account_id, SecondFactor.totp_secret)
                .where(SecondFactor.totp_secret.is_not(None))).all():
            if sealed is None:
                continue
            changed = db.execute(
                update(SecondFactor)
                .where(SecondFactor.account_id == account_id, SecondFactor.totp_secret == sealed)
                .values(totp_secret=box.reseal(sealed))
                .execution_options(synchronize_session=False))
            count += changed.rowcount  # type: ignore[attr-defined]
        return count
