"""Language choice (J5): the toggle's cookie, then ``ui_locales`` from a portal's request
(kept in the session by the authorization endpoint for the sign-in screens that follow),
then the browser's Accept-Language."""

from __future__ import annotations

from flask import current_app, g, request, session
from flask_babel import Babel

LANGUAGE_COOKIE = "clef_lang"
UI_LOCALES_KEY = "ui_locales"  # session key: a portal's ui_locales for this sign-in
babel = Babel()


def languages() -> tuple[str, ...]:
    offered: tuple[str, ...] = current_app.config["CLEF_LANGUAGES"]
    return offered


def select_locale() -> str:
    offered = languages()
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen is not None and chosen in offered:
        return str(chosen)
    tags = g.get("ui_locales") or session.get(UI_LOCALES_KEY) or ()
    for tag in tags:
        base = str(tag).split("-")[0].lower()
        if base in offered:
            return base
    return str(request.accept_languages.best_match(offered) or offered[0])
