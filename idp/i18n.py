"""Language choice (J5): the toggle's cookie, then ``ui_locales`` of the current
portal request, then the ``ui_locales`` a portal sent earlier in this browser, then
the browser's Accept-Language.

A portal's ``ui_locales`` is remembered in its own cookie, not in the sign-in session:
the choice must outlive the session, so that the "signed out" page after a portal's
RP-initiated logout is still in the person's language (issue 9 item 12). The person's
own toggle wins over any portal's hint.
"""

from __future__ import annotations

from typing import Any

from flask import Response, after_this_request, current_app, g, request
from flask_babel import Babel, get_translations
from flask_babel import gettext as babel_gettext
from flask_babel.speaklater import LazyString

LANGUAGE_COOKIE = "clef_lang"  # the person's own choice (the toggle)
UI_LOCALES_COOKIE = "clef_ui_locales"  # the last portal's ui_locales (OIDC Core §3.1.2.1)
COOKIE_MAX_AGE = 365 * 24 * 3600
MAX_TAGS = 5
babel = Babel()


def languages() -> tuple[str, ...]:
    offered: tuple[str, ...] = current_app.config["CLEF_LANGUAGES"]
    return offered


def _first_offered(tags: tuple[str, ...] | list[str]) -> str | None:
    offered = languages()
    for tag in tags:
        base = str(tag).split("-")[0].lower()
        if base in offered:
            return base
    return None


def select_locale() -> str:
    offered = languages()
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen is not None and chosen in offered:
        return str(chosen)
    asked = _first_offered(g.get("ui_locales") or ())
    if asked is not None:
        return asked
    hinted = request.cookies.get(UI_LOCALES_COOKIE)
    if hinted is not None and hinted in offered:
        return str(hinted)
    return str(request.accept_languages.best_match(offered) or offered[0])


def set_language_cookie(response: Response, name: str, code: str) -> None:
    """HttpOnly, SameSite=Lax, Path=/, Secure whenever the service is on https."""
    from idp.runtime import services

    response.set_cookie(name, code, max_age=COOKIE_MAX_AGE, path="/", httponly=True,
                        samesite="Lax", secure=bool(services().settings.secure_transport))


def use_ui_locales(raw: str | None) -> None:
    """A portal's ``ui_locales`` (space-separated language tags, preferred first): the
    screens of this request follow it, and so do later ones through its cookie."""
    tags = (raw or "")[:200].split()[:MAX_TAGS]
    if not tags:
        return
    g.ui_locales = tuple(tags)
    code = _first_offered(tags)
    if code is None or request.cookies.get(UI_LOCALES_COOKIE) == code:
        return

    @after_this_request
    def remember(response: Response) -> Response:
        set_language_cookie(response, UI_LOCALES_COOKIE, code)
        return response


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


def _translated(text: str) -> str:
    """Flask-Babel's ``gettext`` of a text without variables, on :func:`page_translations`."""
    if not g:  # no application context: Flask-Babel's (its null translations)
        return str(babel_gettext(text))
    return str(page_translations().ugettext(text))


def lazy_text(text: str) -> LazyString:
    """Flask-Babel's ``lazy_gettext`` for a text without variables (form labels and
    messages), translated through :func:`page_translations`: ~15 Python calls a use
    instead of ~60 (issue 11)."""
    return LazyString(_translated, text)
