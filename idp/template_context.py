"""What every page template can use: the language toggle, the session's deadline for
the idle warning (J4), the sign-out form."""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from flask_babel import get_locale

from idp.forms import PostOnlyForm
from idp.i18n import languages
from idp.redirects import request_target, safe_next
from idp.runtime import services
from idp.sessions import ANONYMOUS
from idp.web_session import PASSIVE_ENDPOINTS, current_session

LANGUAGE_NAMES = {"en": "English", "fr": "Français"}


def _here() -> str:
    """This page, for the language toggle to come back to (a form's own page after a POST)."""
    return request_target(request.method, request.full_path) or safe_next(request.path) or "/"


def page_context() -> dict[str, Any]:
    svc = services()
    current = current_session()
    locale = str(get_locale() or languages()[0])
    others = [code for code in languages() if code != locale]
    deadline_seconds = None
    if current.record is not None and current.level != ANONYMOUS:
        # A page a request made by itself (PASSIVE_ENDPOINTS) did not renew the clock.
        active = request.endpoint not in PASSIVE_ENDPOINTS
        deadline_seconds = svc.sessions.seconds_left(current.record, svc.clock.now(), active)
    return {
        "service_name": svc.settings.service.name,
        "locale": locale,
        "other_languages": [(code, LANGUAGE_NAMES.get(code, code)) for code in others],
        "here": _here(),
        "session_level": current.level,
        "session_deadline_seconds": deadline_seconds,
        "session_warn_seconds": svc.settings.session.warn_before_seconds,
        # Only pages of a session that can sign out carry this form's token; an
        # anonymous page view does not create a session row for it.
        "post_form": PostOnlyForm() if current.level != ANONYMOUS else None,
    }


def register_template_context(app: Flask) -> None:
    app.context_processor(page_context)
