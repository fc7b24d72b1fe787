"""Layered configuration: defaults, then a file, then ``IDP_*`` variables, then overrides.

``config/defaults.toml`` documents every setting. A deployment names its own TOML file in
``IDP_CONFIG``; single values come from ``IDP_<SECTION>__<KEY>`` variables; tests pass
overrides to the app factory. The result is a typed, frozen :class:`Settings` checked
once at start-up, so a bad or missing secret stops the service before it serves anything.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar, get_type_hints
from urllib.parse import urlsplit

from idp.usernames import COLUMN_LENGTH as USERNAME_COLUMN_LENGTH

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULTS_FILE = PROJECT_ROOT / "config" / "defaults.toml"
ENV_PREFIX = "IDP_"
MIN_SECRET_LENGTH = 32
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message says which setting and why."""


@dataclass(frozen=True)
class ServiceSettings:
    name: str
    base_url: str
    secret_key: str = field(repr=False)
    instance_dir: str
    trusted_hosts: tuple[str, ...]
    # Secrets are left out of repr(): a printed settings object may reach a log.
    encryption_keys: tuple[str, ...] = field(repr=False)


@dataclass(frozen=True)
class DatabaseSettings:
    url: str


@dataclass(frozen=True)
class RateLimitSettings:
    storage_url: str
    signin_per_ip: str
    register_per_ip: str
    email_code_per_ip: str
    second_factor_per_ip: str
    token_per_ip: str
    forgot_username_per_ip: str
    forgot_username_per_address: str
    forgot_password_per_ip: str
    trusted_proxies: int


@dataclass(frozen=True)
class LockoutSettings:
    threshold: int
    first_lock_minutes: int
    max_lock_minutes: int
    permanent_after: int


@dataclass(frozen=True)
class SessionSettings:
    idle_minutes: int
    absolute_hours: int
    warn_before_seconds: int
    touch_interval_seconds: int
    fresh_minutes: int


@dataclass(frozen=True)
class PasswordSettings:
    min_length: int
    max_length: int
    common_list_size: int
    breached_sha1_file: str
    pwned_api_enabled: bool
    pwned_api_url: str
    pwned_api_timeout_seconds: float


@dataclass(frozen=True)
class Argon2Settings:
    memory_kib: int
    time_cost: int
    parallelism: int


@dataclass(frozen=True)
class UsernameSettings:
    min_length: int
    max_length: int


@dataclass(frozen=True)
class EmailCodeSettings:
    digits: int
    lifetime_minutes: int
    max_attempts: int
    resend_interval_seconds: int


@dataclass(frozen=True)
class MfaSettings:
    totp_digits: int
    totp_period_seconds: int
    totp_drift_steps: int
    recovery_code_count: int
    recovery_code_length: int


@dataclass(frozen=True)
class OidcSettings:
    code_lifetime_seconds: int
    access_token_lifetime_seconds: int
    id_token_lifetime_seconds: int
    refresh_idle_minutes: int
    refresh_absolute_hours: int
    key_publish_lead_minutes: int
    backchannel_retry_seconds: tuple[int, ...]
    backchannel_timeout_seconds: float


@dataclass(frozen=True)
class RecoverySettings:
    # Tokens between the forgot-password steps expire (and are bound to the account).
    token_minutes: int
    # D1: wrong answers to the security questions allowed per username before they are
    # refused for ``answer_block_hours`` (the emailed-code route keeps working).
    answer_max_failures: int
    answer_block_hours: int


@dataclass(frozen=True)
class RevocationSettings:
    inactive_days: int
    reminder_days: tuple[int, ...]


@dataclass(frozen=True)
class MailSettings:
    backend: str
    sender: str
    smtp_host: str
    smtp_port: int
    smtp_starttls: bool
    smtp_username: str
    smtp_password: str = field(repr=False)
    smtp_timeout_seconds: float


@dataclass(frozen=True)
class I18nSettings:
    languages: tuple[str, ...]


@dataclass(frozen=True)
class Settings:
    service: ServiceSettings
    database: DatabaseSettings
    rate_limit: RateLimitSettings
    lockout: LockoutSettings
    session: SessionSettings
    password: PasswordSettings
    argon2: Argon2Settings
    username: UsernameSettings
    email_code: EmailCodeSettings
    mfa: MfaSettings
    oidc: OidcSettings
    recovery: RecoverySettings
    revocation: RevocationSettings
    mail: MailSettings
    i18n: I18nSettings

    @property
    def instance_path(self) -> Path:
        path = Path(self.service.instance_dir)
        return path if path.is_absolute() else PROJECT_ROOT / path

    @property
    def embedded(self) -> bool:
        """True for the no-server default: SQLite under instance/, no database URL set."""
        return not self.database.url

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{self.instance_path / 'clef.sqlite3'}"

    @property
    def secure_transport(self) -> bool:
        """True when the public URL is https: cookies get Secure and ``__Host-`` (S23)."""
        return urlsplit(self.service.base_url).scheme == "https"


T = TypeVar("T")


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _env_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    layer: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        layer.setdefault(section, {})[key] = _parse_env_value(raw)
    return layer


def _build(cls: type[T], data: Mapping[str, Any], where: str) -> T:
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - set(known)
    if unknown:
        raise ConfigError(f"unknown setting(s) in [{where}]: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name in known:
        if name not in data:
            raise ConfigError(f"missing setting {where}.{name}")
        value = data[name]
        if isinstance(value, list):
            value = tuple(value)
        values[name] = value
    return cls(**values)


_SECTIONS: dict[str, type[Any]] = {
    name: hint for name, hint in get_type_hints(Settings).items() if isinstance(hint, type)
}


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read the layers, check them and return the frozen settings.

    Raises :class:`ConfigError` on an unknown or missing setting, an unusable base URL,
    or a missing or short secret outside the embedded default.
    """
    env = os.environ if environ is None else environ
    data: dict[str, Any] = tomllib.loads(DEFAULTS_FILE.read_text(encoding="utf-8"))
    config_file = env.get("IDP_CONFIG")
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"IDP_CONFIG names {config_file}, which is not a file")
        _merge(data, tomllib.loads(path.read_text(encoding="utf-8")))
    _merge(data, _env_layer(env))
    if overrides:
        _merge(data, overrides)
    sections: dict[str, Any] = {}
    for name, section in data.items():
        if name not in _SECTIONS:
            raise ConfigError(f"unknown section [{name}]")
        sections[name] = _build(_SECTIONS[name], section, name)
    settings = Settings(**sections)
    _check(settings)
    return settings


def _check(settings: Settings) -> None:
    url = urlsplit(settings.service.base_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError("service.base_url must be an absolute http(s) URL")
    if url.scheme == "http" and url.hostname not in LOOPBACK_HOSTS:
        raise ConfigError("service.base_url may use http only on a loopback host; use https")
    secret = settings.service.secret_key
    if not settings.embedded and len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"service.secret_key must be set to at least {MIN_SECRET_LENGTH} random characters "
            "when a database URL is configured (IDP_SERVICE__SECRET_KEY)"
        )
    if secret and len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(f"service.secret_key is shorter than {MIN_SECRET_LENGTH} characters")
    if settings.mail.backend not in ("outbox", "smtp"):
        raise ConfigError("mail.backend must be 'outbox' or 'smtp'")
    mfa = settings.mfa
    if mfa.totp_drift_steps > 1 or mfa.totp_digits < 6:
        raise ConfigError("mfa: TOTP needs at least 6 digits and at most 1 step of drift (S11)")
    if mfa.recovery_code_length * 5 < 64 or mfa.recovery_code_count < 1:
        raise ConfigError("mfa.recovery_code_length must give at least 64 bits (13 characters, S13)")
    if not 0 < settings.oidc.code_lifetime_seconds <= 600:
        raise ConfigError("oidc.code_lifetime_seconds must be at most 600 (S32)")
    if settings.recovery.answer_max_failures < 1 or settings.recovery.token_minutes < 1:
        raise ConfigError("recovery: answer_max_failures and token_minutes must be at least 1 (D1)")
    if settings.password.min_length < 8 or settings.password.max_length < 64:
        raise ConfigError("password lengths must allow 8 to at least 64 characters (S1)")
    if settings.username.max_length > USERNAME_COLUMN_LENGTH:
        raise ConfigError(f"username.max_length must be at most {USERNAME_COLUMN_LENGTH} "
                          "(the width of the stored column)")


def resolve_secret(settings: Settings) -> str:
    """The configured secret, or in the embedded default one kept in instance/secret_key."""
    if settings.service.secret_key:
        return settings.service.secret_key
    path = settings.instance_path / "secret_key"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker made it first
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret)
    return secret
