"""Language choice (J5): the toggle's cookie, then ``ui_locales`` from a portal's request
(set on ``g`` by the OpenID Connect endpoints), then the browser's Accept-Language."""

from __future__ import annotations

from flask import current_app, g, request
from flask_babel import Babel

LANGUAGE_COOKIE = "clef_lang"
babel = Babel()


def languages() -> tuple[str, ...]:
    offered: tuple[str, ...] = current_app.config["CLEF_LANGUAGES"]
    return offered


def select_locale() -> str:
    offered = languages()
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen is not None and chosen in offered:
        return str(chosen)
    tags: tuple[str, ...] = g.get("ui_locales", ())
    for tag in tags:
        base = tag.split("-")[0].lower()
        if base in offered:
            return base
    return str(request.accept_languages.best_match(offered) or offered[0])
