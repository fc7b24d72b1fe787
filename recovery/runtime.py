"""The recovery services of one app, built by the app factory from the core's services,
and reached through :func:`reset_service`, the slice's one accessor."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, current_app

from idp.runtime import Services
from recovery.limits import AnswerLimits
from recovery.mail import MAIL_QUEUE_KEY, MailQueue
from recovery.reset import ResetService
from recovery.reset_codes import ResetCodes
from recovery.tokens import FlowTokens

EXTENSION_KEY = "clef.recovery"


def build_reset_service(core: Services) -> ResetService:
    """The reset service, given the core services it uses (not the container)."""
    settings = core.settings.recovery
    return ResetService(
        keys=core.keys, accounts=core.accounts, hasher=core.hasher, policy=core.policy,
        sessions=core.sessions, throttle=core.throttle,
        tokens=FlowTokens(core.keys, core.clock, timedelta(minutes=settings.token_minutes)),
        limits=AnswerLimits(core.keys, settings.answer_max_failures,
                            timedelta(hours=settings.answer_block_hours)),
        codes=ResetCodes(core.keys, core.settings.email_code),
    )


def init_app(app: Flask, core: Services) -> None:
    """One reset service and one mail queue per app, on the core's services."""
    app.extensions[EXTENSION_KEY] = build_reset_service(core)
    app.extensions[MAIL_QUEUE_KEY] = MailQueue(core.outbox)


def reset_service() -> ResetService:
    found: ResetService = current_app.extensions[EXTENSION_KEY]
    return found
