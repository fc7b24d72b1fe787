"""The second-factor services of one app, built from the core's settings and keys."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

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
    core.resealers["TOTP secrets"] = factors.reseal_all
    core.factor_amr = factors.amr_of
    recovery_codes = RecoveryCodes(core.keys, settings.recovery_code_count,
                                   settings.recovery_code_length)
    second_step = SecondStep(core.throttle, core.accounts,
                             checkers_for(factors, core.email_codes), recovery_codes)
    return MfaServices(factors=factors, recovery_codes=recovery_codes, box=core.box,
                       second_step=second_step)


def mfa_services() -> MfaServices:
    found: MfaServices = current_app.extensions[EXTENSION_KEY]
    return found
