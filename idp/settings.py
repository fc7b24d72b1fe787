"""Layered configuration: defaults, then a file, then ``IDP_*`` variables, then overrides.

``config/defaults.toml`` documents every setting. A deployment names its own TOML file in
``IDP_CONFIG``; single values come from ``IDP_<SECTION>__<KEY>`` variables; tests pass
overrides to the app factory. The result is a typed, frozen :class:`Settings` checked
once at start-up: each value against its field's type (:mod:`idp.setting_types`), then
the rules below, so a wrong type or a bad or missing secret stops the service before it
serves anything.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints
from urllib.parse import urlsplit

from idp.resources import CHECKOUT_ROOT, base_dir, resource
from idp.setting_types import EnvText, Spec, WrongType, read_value, spec_of
from idp.usernames import COLUMN_LENGTH as USERNAME_COLUMN_LENGTH

PROJECT_ROOT = CHECKOUT_ROOT
DEFAULTS_FILE = resource("config") / "defaults.toml"
ENV_PREFIX = "IDP_"
MIN_SECRET_LENGTH = 32
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


# How long a portal may keep discovery and the JWKS (their Cache-Control max-age,
# idp.oidc.published): a new signing key must not sign before a copy fetched without it
# has run out (S42).
PUBLISHED_MAX_AGE_SECONDS = 300


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
    pool_size: int
    max_overflow: int
    prepare_threshold: int


@dataclass(frozen=True)
class RateLimitSettings:
    storage_url: str
    signin_per_ip: str
    register_per_ip: str
    email_code_per_ip: str
    second_factor_per_ip: str
    token_per_ip: str
    token_per_client: str
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
    forget_after_days: int


@dataclass(frozen=True)
class SessionSettings:
    # A float, so tests can set a seconds-long idle timeout (0.1 = 6 seconds).
    idle_minutes: float
    absolute_hours: int
    warn_before_seconds: int
    touch_interval_seconds: int
    fresh_minutes: int
    expired_notice_hours: int


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
    # D3 (WebAuthn): "preferred", "required" or "discouraged"; "none" or "direct"
    # attestation, and with "direct" the PEM files of the accepted roots.
    webauthn_user_verification: str
    webauthn_attestation: str
    webauthn_attestation_roots: tuple[str, ...]
    webauthn_challenge_seconds: int


@dataclass(frozen=True)
class OidcSettings:
    code_lifetime_seconds: int
    access_token_lifetime_seconds: int
    id_token_lifetime_seconds: int
    refresh_idle_minutes: int
    refresh_absolute_hours: int
    key_publish_lead_minutes: int
    jwks_memory_seconds: int
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
    retry_seconds: tuple[int, ...]


@dataclass(frozen=True)
class I18nSettings:
    languages: tuple[str, ...]


@dataclass(frozen=True)
class MetricsSettings:
    # Networks (CIDR) whose addresses may read /metrics; any other gets a 404.
    allowed_networks: tuple[str, ...]


@dataclass(frozen=True)
class LoggingSettings:
    format: str  # "text" or "json"


@dataclass(frozen=True)
class PartnerSettings:
    """Sign-in partners (J14): how Clef talks to the upstream providers."""

    # Clock drift allowed on a partner's ID token iat/exp (OIDC Core 3.1.3.7).
    leeway_seconds: int
    # How long Clef waits for a partner's answer before showing "unreachable".
    timeout_seconds: int
    # How long a partner's discovery document is kept before it is fetched again.
    discovery_lifetime_seconds: int
    # Shortest wait between two key-set fetches forced by an unknown ``kid``.
    jwks_refetch_floor_seconds: int
    # How far a partner's logout token's iat may be from now, either side (OIDC
    # Back-Channel Logout 1.0 §2.6); also how long its jti is remembered against replay.
    logout_iat_window_seconds: int


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
    metrics: MetricsSettings
    logging: LoggingSettings
    partners: PartnerSettings

    @property
    def instance_path(self) -> Path:
        path = Path(self.service.instance_dir)
        return path if path.is_absolute() else base_dir() / path

    @property
    def embedded(self) -> bool:
        """True for the no-server default: SQLite under instance/, no database URL set."""
        return not self.database.url

    @property
    def writes_instance_folder(self) -> bool:
        """True when something is kept under instance/: the embedded database and secret,
        or the outbox. Otherwise (a read-only deployment, say) Clef leaves it alone."""
        return self.embedded or self.mail.backend == "outbox"

    @property
    def embedded_database_file(self) -> Path | None:
        """The SQLite file of the embedded mode; None when a database URL is set."""
        return None if self.database.url else self.instance_path / "clef.sqlite3"

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{self.embedded_database_file}"

    @property
    def secure_transport(self) -> bool:
        """True when the public URL is https: cookies get Secure and ``__Host-`` (S23)."""
        return urlsplit(self.service.base_url).scheme == "https"


# --- Loading: the layers merged, then every value checked against its field's type ------
#
# A field's annotation in the dataclasses above is the one statement of its type: adding
# a setting is its default in config/defaults.toml plus a typed field, nothing else.

def _schema() -> dict[str, tuple[type[Any], dict[str, Spec]]]:
    schema: dict[str, tuple[type[Any], dict[str, Spec]]] = {}
    for section, owner in get_type_hints(Settings).items():
        hints = get_type_hints(owner)
        schema[section] = (owner, {f.name: spec_of(owner, f, hints[f.name]) for f in fields(owner)})
    return schema


_SCHEMA = _schema()


def _coerce(value: Any, spec: Spec, where: str) -> Any:
    try:
        return read_value(value, spec)
    except WrongType as error:
        raise ConfigError(f"{where} {error}") from None


def _env_layers(environ: Mapping[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """One layer per ``IDP_<SECTION>__<KEY>`` variable, named after it."""
    layers: list[tuple[str, dict[str, Any]]] = []
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        layers.append((name, {section: {key: EnvText(raw)}}))
    return layers


def _layers(overrides: Mapping[str, Any] | None, env: Mapping[str, str]) -> list[tuple[str, Any]]:
    """Every layer, lowest first, each with the name an error message gives it."""
    layers: list[tuple[str, Any]] = [
        ("config/defaults.toml", tomllib.loads(DEFAULTS_FILE.read_text(encoding="utf-8")))]
    config_file = env.get("IDP_CONFIG")
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"IDP_CONFIG names {config_file}, which is not a file")
        try:
            layers.append((config_file, tomllib.loads(path.read_text(encoding="utf-8"))))
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{config_file} is not valid TOML: {error}") from None
    layers.extend(_env_layers(env))
    if overrides:
        layers.append(("overrides", overrides))
    return layers


def _merge(layers: list[tuple[str, Any]]) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], str]]:
    """The merged values per section, and which layer gave each one."""
    data: dict[str, dict[str, Any]] = {}
    origin: dict[tuple[str, str], str] = {}
    for source, layer in layers:
        for section, values in layer.items():
            if not isinstance(values, Mapping):
                raise ConfigError(f"{section} in {source} must be a [{section}] table of settings")
            for key, value in values.items():
                data.setdefault(section, {})[key] = value
                origin[(section, key)] = source
    return data, origin


def _build(section: str, values: dict[str, Any], origin: dict[tuple[str, str], str]) -> Any:
    owner, specs = _SCHEMA[section]

    def where(key: str) -> str:
        return f"{section}.{key} (from {origin[(section, key)]})"

    unknown = sorted(set(values) - set(specs))
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(where(key) for key in unknown)}")
    missing = [key for key in specs if key not in values]
    if missing:
        raise ConfigError(f"missing setting(s) in [{section}]: {', '.join(missing)}")
    return owner(**{key: _coerce(values[key], spec, where(key)) for key, spec in specs.items()})


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read the layers, check them and return the frozen settings.

    Raises :class:`ConfigError`, naming the setting and the layer it came from, on an
    unknown or missing setting, a value of the wrong type (``IDP_SESSION__IDLE_MINUTES=abc``),
    an unusable base URL, or a missing or short secret outside the embedded default.
    """
    env = os.environ if environ is None else environ
    data, origin = _merge(_layers(overrides, env))
    for section in data:
        if section not in _SCHEMA:
            sources = sorted({source for (name, _), source in origin.items() if name == section})
            raise ConfigError(f"unknown section [{section}] (from {', '.join(sources)})")
    settings = Settings(**{name: _build(name, data.get(name, {}), origin) for name in _SCHEMA})
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
    if mfa.webauthn_user_verification not in ("preferred", "required", "discouraged"):
        raise ConfigError("mfa.webauthn_user_verification must be preferred, required or discouraged")
    if mfa.webauthn_attestation not in ("none", "direct"):
        raise ConfigError("mfa.webauthn_attestation must be 'none' or 'direct' (D3)")
    if mfa.webauthn_attestation == "direct" and not mfa.webauthn_attestation_roots:
        raise ConfigError("mfa.webauthn_attestation = 'direct' needs webauthn_attestation_roots (D3)")
    if not 30 <= mfa.webauthn_challenge_seconds <= 600:
        raise ConfigError("mfa.webauthn_challenge_seconds must be 30 to 600 (D3: short-lived)")
    if mfa.totp_drift_steps > 1 or mfa.totp_digits < 6:
        raise ConfigError("mfa: TOTP needs at least 6 digits and at most 1 step of drift (S11)")
    if mfa.recovery_code_length * 5 < 64 or mfa.recovery_code_count < 1:
        raise ConfigError("mfa.recovery_code_length must give at least 64 bits (13 characters, S13)")
    _check_partners(settings.partners)
    if not 0 < settings.oidc.code_lifetime_seconds <= 600:
        raise ConfigError("oidc.code_lifetime_seconds must be at most 600 (S32)")
    lead = settings.oidc.key_publish_lead_minutes * 60
    if not 0 <= settings.oidc.jwks_memory_seconds * 2 <= lead:
        raise ConfigError("oidc.jwks_memory_seconds must be at most half the key publish lead (S42)")
    if settings.oidc.jwks_memory_seconds + PUBLISHED_MAX_AGE_SECONDS > lead:
        # A portal may keep a JWKS fetched just before a new key reached it for the
        # documents' max-age: the key must not sign before both have run out.
        raise ConfigError(f"oidc.key_publish_lead_minutes must cover oidc.jwks_memory_seconds "
                          f"and the JWKS's max-age of {PUBLISHED_MAX_AGE_SECONDS} s (S42)")
    if settings.recovery.answer_max_failures < 1 or settings.recovery.token_minutes < 1:
        raise ConfigError("recovery: answer_max_failures and token_minutes must be at least 1 (D1)")
    if settings.session.idle_minutes <= 0 or settings.session.expired_notice_hours < 0:
        raise ConfigError("session.idle_minutes must be above 0 (D5)")
    if not 0 <= settings.session.touch_interval_seconds < settings.session.idle_minutes * 60:
        # At or past the idle timeout, an active session would time out all the same.
        raise ConfigError("session.touch_interval_seconds must be 0 or more and below the "
                          "idle timeout, session.idle_minutes (D5)")
    if settings.password.min_length < 8 or settings.password.max_length < 64:
        raise ConfigError("password lengths must allow 8 to at least 64 characters (S1)")
    if settings.username.max_length > USERNAME_COLUMN_LENGTH:
        raise ConfigError(f"username.max_length must be at most {USERNAME_COLUMN_LENGTH} "
                          "(the width of the stored column)")
    for network in settings.metrics.allowed_networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigError(f"metrics.allowed_networks: {network!r} is not a network "
                              "(e.g. 10.0.5.0/24)") from None
    if settings.logging.format not in ("text", "json"):
        raise ConfigError("logging.format must be 'text' or 'json'")


def resolve_secret(settings: Settings) -> str:
    """The configured secret, or in the embedded default one kept in instance/secret_key."""
    if settings.service.secret_key:
        return settings.service.secret_key
    path = settings.instance_path / "secret_key"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker made it first
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret)
    return secret


def _check_partners(partners: PartnerSettings) -> None:
    """J14: bounds that keep a partner's tokens checked and its outages short."""
    if not 0 <= partners.leeway_seconds <= 300:
        raise ConfigError("partners.leeway_seconds must be 0 to 300 (OIDC Core 3.1.3.7: small)")
    if not 1 <= partners.timeout_seconds <= 30:
        raise ConfigError("partners.timeout_seconds must be 1 to 30 (availability)")
    if not 60 <= partners.discovery_lifetime_seconds <= 86400:
        raise ConfigError("partners.discovery_lifetime_seconds must be 60 to 86400")
    if not 1 <= partners.jwks_refetch_floor_seconds <= 3600:
        raise ConfigError("partners.jwks_refetch_floor_seconds must be 1 to 3600")
    if not 30 <= partners.logout_iat_window_seconds <= 3600:
        raise ConfigError("partners.logout_iat_window_seconds must be 30 to 3600 "
                          "(OIDC Back-Channel Logout 1.0 2.6)")
