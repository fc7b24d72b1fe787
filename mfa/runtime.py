"""The second-factor services of one app, built by the app factory from the core's
settings and keys (registering its resealer and factor policy on the container), and
reached through :func:`mfa_services`, the slice's one accessor."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from idp.runtime import Services
from idp.secret_box import SecretBox
from mfa.checkers import SecurityKeyChecker, checkers_for
from mfa.factors import CHALLENGE_PATH, CHALLENGE_RIDER, SecondFactors
from mfa.recovery_codes import RecoveryCodes
from mfa.security_keys import SecurityKeys
from mfa.service import SecondStep

EXTENSION_KEY = "clef.mfa"


@dataclass
class MfaServices:
    factors: SecondFactors
    recovery_codes: RecoveryCodes
    security_keys: SecurityKeys
    box: SecretBox
    second_step: SecondStep


def build_mfa_services(core: Services) -> MfaServices:
    settings = core.settings.mfa
    keys = SecurityKeys(settings, core.settings.service.base_url, core.settings.service.name)
    factors = SecondFactors(settings, core.box, keys)
    core.add_resealer("TOTP secrets", factors.reseal_all)
    core.set_factor_policy(factors.amr_of)
    core.set_factor_lister(factors.describe)
    core.add_session_rider(CHALLENGE_PATH, CHALLENGE_RIDER)
    recovery_codes = RecoveryCodes(core.keys, settings.recovery_code_count,
                                   settings.recovery_code_length)
    second_step = SecondStep(core.throttle, core.accounts,
                             checkers_for(factors, core.email_codes), recovery_codes,
                             SecurityKeyChecker(keys))
    return MfaServices(factors=factors, recovery_codes=recovery_codes, security_keys=keys,
                       box=core.box, second_step=second_step)


def init_app(app: Flask, core: Services) -> None:
    """The slice's services for one app, built on the core's."""
    app.extensions[EXTENSION_KEY] = build_mfa_services(core)


def mfa_services() -> MfaServices:
    """The slice's services of the current app (the app looked up once through its
    proxy, as ``idp.runtime.services``; issue 11)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    found: MfaServices = app.extensions[EXTENSION_KEY]
    return found
