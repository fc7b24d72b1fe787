"""Forgotten credentials (J6, J7): forgot username, forgot password by emailed code or
by security questions, and the recovery information itself (J2, S14). Built on the
core's accounts, email codes, sessions and mail services.

The core reaches this slice only through the app factory (which registers ``bp``) and
endpoint names (``recovery.setup_questions`` after registration, the sign-in page's
links to ``recovery.forgot_username`` and ``recovery.forgot_password``)."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app
from flask.blueprints import BlueprintSetupState

from idp.runtime import EXTENSION_KEY, Services
from recovery.limits import AnswerLimits
from recovery.mail import MAIL_QUEUE_KEY, MailQueue
from recovery.reset import ResetService
from recovery.tokens import FlowTokens

RECOVERY_EXTENSION_KEY = "clef.recovery"

bp = Blueprint("recovery", __name__)


def build_reset_service(core: Services) -> ResetService:
    settings = core.settings.recovery
    tokens = FlowTokens(core.keys, core.clock, timedelta(minutes=settings.token_minutes))
    limits = AnswerLimits(core.keys, settings.answer_max_failures,
                          timedelta(hours=settings.answer_block_hours))
    return ResetService(core, tokens, limits)


@bp.record_once
def _build(state: BlueprintSetupState) -> None:
    """One reset service and one mail queue per app, on the core's services (built
    before the blueprints)."""
    core: Services = state.app.extensions[EXTENSION_KEY]
    state.app.extensions[RECOVERY_EXTENSION_KEY] = build_reset_service(core)
    state.app.extensions[MAIL_QUEUE_KEY] = MailQueue(core.outbox)


def reset_service() -> ResetService:
    found: ResetService = current_app.extensions[RECOVERY_EXTENSION_KEY]
    return found


from recovery import views_password, views_questions, views_username  # noqa: E402,F401 - routes on bp
