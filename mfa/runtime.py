"""The second-factor services of one app, built from the core's settings and keys."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from idp.runtime import Services
from idp.secret_box import SecretBox
from mfa.checkers import SecurityKeyChecker, checkers_for
from mfa.factors import SecondFactors
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
    core.resealers["TOTP secrets"] = factors.reseal_all
    core.factor_amr = factors.amr_of
    core.factor_list = factors.describe
    recovery_codes = RecoveryCodes(core.keys, settings.recovery_code_count,
                                   settings.recovery_code_length)
    second_step = SecondStep(core.throttle, core.accounts,
                             checkers_for(factors, core.email_codes), recovery_codes,
                             SecurityKeyChecker(keys))
    return MfaServices(factors=factors, recovery_codes=recovery_codes, security_keys=keys,
                       box=core.box, second_step=second_step)


def mfa_services() -> MfaServices:
    found: MfaServices = current_app.extensions[EXTENSION_KEY]
    return found
