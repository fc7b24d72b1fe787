"""What every page template can use: the language toggle, the session's deadline for
the idle warning (J4), the sign-out form."""

from __future__ import annotations

from typing import Any

from flask import Flask, g, request
from flask_babel import get_locale, get_translations

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


MEMO = "clef_translations"  # on Flask-Babel's per-request namespace


def page_translations() -> Any:
    """This request's translations, looked up once per locale: Flask-Babel finds them
    again (context, locale, cache key) at every ``_()`` of a template, a dozen or more
    per page (issue 11). Remembered beside the locale object they were found for, so
    ``force_locale`` (mail in the person's language) and ``refresh`` still switch."""
    space = g.get("_flask_babel")
    locale = getattr(space, "babel_locale", None)
    if locale is not None:
        memo = getattr(space, MEMO, None)
        if memo is not None and memo[0] is locale:
            return memo[1]
    translations = get_translations()
    space = g.get("_flask_babel")
    if space is not None:
        setattr(space, MEMO, (getattr(space, "babel_locale", None), translations))
    return translations


def register_template_context(app: Flask) -> None:
    app.context_processor(page_context)
    # The same callables Flask-Babel installs, on the remembered translations.
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: page_translations().ugettext(s),
        ngettext=lambda s, p, n: page_translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: page_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: page_translations().unpgettext(c, s, p, n),
    )
