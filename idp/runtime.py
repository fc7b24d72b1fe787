"""The services one app instance is made of, and the request's database session.

Built once by the app factory (``idp.app.create_app``) from the settings; views and the
CLI reach them through :func:`services` and :func:`db`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from idp.accounts import AccountService
from idp.breach import AnyOf, BreachedPasswordSource, PwnedRangeSource, Sha1FileSource
from idp.clock import Clock
from idp.db import make_engine, make_session_factory
from idp.email_codes import EmailCodes
from idp.keys import KeyRing
from idp.mail import Mailer, make_mailer
from idp.outbox import Outbox
from idp.password_policy import PasswordPolicy
from idp.passwords import PasswordHasher
from idp.secret_box import Resealer, SecretBox
from idp.session_rows import Rider
from idp.sessions import SessionsEnded, SessionStore
from idp.settings import PasswordSettings, Settings
from idp.throttle import Throttle
from idp.visitor_cookie import VisitorCookies

EXTENSION_KEY = "clef"
FactorAmr = Callable[[Session, int], "str | None"]
FactorList = Callable[[Session, int], "list[str]"]
# Deletes a slice's rows that can no longer matter; returns how many went.
Purger = Callable[[Session, datetime], int]


@dataclass
class Hooks:
    """What the slices registered on the container (see :class:`Services`)."""

    resealers: dict[str, Resealer] = field(default_factory=dict)
    factor_policy: FactorAmr | None = None
    factor_lister: FactorList | None = None
    purgers: dict[str, Purger] = field(default_factory=dict)


@dataclass(frozen=True)
class Services:
    """The core's services, built once; slices plug in through the registration points
    (``add_resealer``, ``add_purger``, ``on_sessions_ended``, ``add_session_rider``,
    ``set_factor_policy``, ``set_factor_lister``), never by assigning to it, and each
    service is given what it uses, not the container."""

    settings: Settings
    clock: Clock
    keys: KeyRing
    engine: Engine
    session_factory: sessionmaker[Session]
    hasher: PasswordHasher
    policy: PasswordPolicy
    throttle: Throttle
    accounts: AccountService
    sessions: SessionStore
    visitors: VisitorCookies
    email_codes: EmailCodes
    mailer: Mailer
    box: SecretBox
    outbox: Outbox
    # What the slices register through the methods below (the container itself is
    # frozen: nothing is assigned to it after the factory built it).
    _hooks: Hooks = field(default_factory=lambda: Hooks(), repr=False)

    # --- Registration points, called once while the app is built ---------------------
    def add_resealer(self, name: str, resealer: Resealer) -> None:
        """What re-encrypts a slice's secrets under a new key (``clef encryption
        reseal`` runs them all). Raises ``ValueError`` on a name registered twice."""
        if name in self._hooks.resealers:
            raise ValueError(f"a resealer named {name!r} is already registered")
        self._hooks.resealers[name] = resealer

    def add_purger(self, name: str, purger: Purger) -> None:
        """What the worker's sweep (``clef oidc worker``) runs to drop a slice's rows
        that can no longer matter. Raises ``ValueError`` on a name registered twice."""
        if name in self._hooks.purgers:
            raise ValueError(f"a purger named {name!r} is already registered")
        self._hooks.purgers[name] = purger

    def purge_slices(self, db: Session, now: datetime) -> int:
        """Run every registered purger; the caller commits."""
        return sum(purger(db, now) for purger in self._hooks.purgers.values())

    def on_sessions_ended(self, listener: SessionsEnded) -> None:
        """``listener`` is told, in the same transaction, of every batch of sign-in
        sessions that ends (the provider's back-channel logout)."""
        self.sessions.add_listener(listener)

    def add_session_rider(self, path: str, rider: Rider) -> None:
        """Requests for ``path`` read ``rider``'s columns with the session's row, in its
        one statement (``idp.session_rows.Rider``: the second step's page, from the mfa
        slice; /authorize, from the provider)."""
        self.sessions.add_rider(path, rider)

    def set_factor_lister(self, factor_list: FactorList) -> None:
        """How to list an account's second factors for ``clef users show`` (one line
        each: kind, name, dates; never key material), told once by the mfa slice."""
        if self._hooks.factor_lister is not None:
            raise ValueError("the second-factor lister is already set")
        self._hooks.factor_lister = factor_list

    def set_factor_policy(self, factor_amr: FactorAmr) -> None:
        """How to tell an account's second factor (its amr value, "otp" or "mail"),
        told once by the mfa slice. Raises ``ValueError`` when told twice."""
        if self._hooks.factor_policy is not None:
            raise ValueError("the second-factor policy is already set")
        self._hooks.factor_policy = factor_amr

    # --- What the registrations give -------------------------------------------------
    @property
    def resealers(self) -> Mapping[str, Resealer]:
        """Every registered resealer, by name (read-only)."""
        return MappingProxyType(self._hooks.resealers)

    def factor_amr(self, db: Session, account_id: int) -> str | None:
        """The amr value of the account's second factor, or None when it has none (or
        no slice told the policy): the provider asks for a stronger sign-in only when
        the account has the factor."""
        policy = self._hooks.factor_policy
        return None if policy is None else policy(db, account_id)

    def factor_list(self, db: Session, account_id: int) -> list[str]:
        """The account's second factors, one line each, or [] (no slice told)."""
        lister = self._hooks.factor_lister
        return [] if lister is None else lister(db, account_id)


def breached_source(settings: PasswordSettings) -> BreachedPasswordSource | None:
    sources: list[BreachedPasswordSource] = []
    if settings.breached_sha1_file:
        sources.append(Sha1FileSource(settings.breached_sha1_file))
    if settings.pwned_api_enabled:
        sources.append(PwnedRangeSource(settings.pwned_api_url, settings.pwned_api_timeout_seconds))
    return AnyOf(sources) if sources else None


def build_services(settings: Settings, clock: Clock, secret: str) -> Services:
    keys = KeyRing(secret)
    engine = make_engine(settings.database_url, pool_size=settings.database.pool_size,
                         max_overflow=settings.database.max_overflow,
                         prepare_threshold=settings.database.prepare_threshold)
    hasher = PasswordHasher(settings.argon2)
    policy = PasswordPolicy(
        min_length=settings.password.min_length,
        max_length=settings.password.max_length,
        common_list_size=settings.password.common_list_size,
        service_name=settings.service.name,
        breached=breached_source(settings.password),
    )
    throttle = Throttle(settings.lockout, keys)
    session_factory = make_session_factory(engine)
    mailer = make_mailer(settings.mail, settings.instance_path)
    box = SecretBox(settings.service.encryption_keys, keys)
    outbox = Outbox(session_factory, box, mailer, clock, settings.mail.retry_seconds,
                    settings.mail.smtp_timeout_seconds)
    sessions = SessionStore(settings.session)
    made = Services(
        settings=settings,
        clock=clock,
        keys=keys,
        engine=engine,
        session_factory=session_factory,
        hasher=hasher,
        policy=policy,
        throttle=throttle,
        accounts=AccountService(hasher, policy, throttle, settings.username),
        sessions=sessions,
        visitors=VisitorCookies(keys, clock, sessions.idle, sessions.touch_interval),
        email_codes=EmailCodes(settings.email_code, keys),
        mailer=mailer,
        box=box,
        outbox=outbox,
    )
    made.add_resealer("mail waiting to be sent", outbox.reseal_all)
    return made


def services() -> Services:
    """The current app's services.

    The app is looked up through ``current_app`` once (``_get_current_object``, the
    way Flask's docs give to reach a proxy's object) instead of once per attribute
    read through the proxy: the helper runs a few dozen times per sign-in flow
    (issue 11)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    found: Services = app.extensions[EXTENSION_KEY]
    return found


def db() -> Session:
    """The request's (or CLI command's) database session, opened on first use and
    closed at the end of the app context (:func:`close_db`).

    Kept on the app context's ``g``, found with ONE look-up through the proxy
    (``_get_current_object``): ``"db" not in g`` then ``g.db`` were two, each a few
    Python calls, and this runs ~60 times per sign-in flow (issue 11). The object is
    the context's own, so two contexts (two requests, two threads, a CLI command)
    never share a session, as before."""
    store = g._get_current_object()
    try:
        session: Session = store.db  # a plain attribute of the context's own ``g``
    except AttributeError:  # first use in this context
        session = store.db = services().session_factory()
    return session


def opened_db() -> Session | None:
    """The request's database session if this context has opened one (:func:`db`),
    else None: nothing was read or written through it, so nothing waits to commit."""
    session: Session | None = g.get("db")
    return session


def close_db(_exc: BaseException | None = None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()
