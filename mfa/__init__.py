"""Second factors (J8-J11): TOTP, email codes, security keys and passkeys (D3),
recovery codes.

The core hands over here by endpoint name: ``mfa.setup`` after registration and
``mfa.challenge`` after the password step. This slice decides when the second factor
has been passed and tells the core through ``idp.web_session.passed_second_factor``,
with the amr values that say how (D2).
"""

from __future__ import annotations

from flask import Blueprint
from flask.blueprints import BlueprintSetupState

from mfa.runtime import EXTENSION_KEY, build_mfa_services

bp = Blueprint("mfa", __name__, url_prefix="/2fa")


@bp.record_once
def _build_services(state: BlueprintSetupState) -> None:
    state.app.extensions[EXTENSION_KEY] = build_mfa_services(state.app.extensions["clef"])


from mfa.views import challenge, enrol, keys, manage  # noqa: E402,F401 - registers the routes
