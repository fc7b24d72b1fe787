"""Language choice (J5): the toggle's cookie, then ``ui_locales`` of the current
portal request, then the ``ui_locales`` a portal sent earlier in this browser, then
the browser's Accept-Language.

A portal's ``ui_locales`` is remembered in its own cookie, not in the sign-in session:
the choice must outlive the session, so that the "signed out" page after a portal's
RP-initiated logout is still in the person's language (issue 9 item 12). The person's
own toggle wins over any portal's hint.
"""

from __future__ import annotations

from flask import Response, after_this_request, current_app, g, request
from flask_babel import Babel

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
