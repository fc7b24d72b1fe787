"""The second-factor services of one app, built by the app factory from the core's
settings and keys (registering its resealer and factor policy on the container), and
reached through :func:`mfa_services`, the slice's one accessor."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from idp.runtime import Services
from idp.secret_box import SecretBox
from mfa.checkers import checkers_for
from mfa.factors import SecondFactors
from mfa.recovery_codes import RecoveryCodes
from mfa.service import SecondStep

EXTENSION_KEY = "clef.mfa"


@dataclass
class MfaServices:
    factors: SecondFactors
    recovery_codes: RecoveryCodes
    box: SecretBox
    second_step: SecondStep


def build_mfa_services(core: Services) -> MfaServices:
    settings = core.settings.mfa
    factors = SecondFactors(settings, core.box)
    core.add_resealer("TOTP secrets", factors.reseal_all)
    core.set_factor_policy(factors.amr_of)
    recovery_codes = RecoveryCodes(core.keys, settings.recovery_code_count,
                                   settings.recovery_code_length)
    second_step = SecondStep(core.throttle, core.accounts,
                             checkers_for(factors, core.email_codes), recovery_codes)
    return MfaServices(factors=factors, recovery_codes=recovery_codes, box=core.box,
                       second_step=second_step)


def init_app(app: Flask, core: Services) -> None:
    """The slice's services for one app, built on the core's."""
    app.extensions[EXTENSION_KEY] = build_mfa_services(core)


def mfa_services() -> MfaServices:
    found: MfaServices = current_app.extensions[EXTENSION_KEY]
    return found
