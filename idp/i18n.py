"""Language choice (J5): the toggle's cookie, then ``ui_locales`` of the current
portal request, then the ``ui_locales`` a portal sent earlier in this browser, then
the browser's Accept-Language.

A portal's ``ui_locales`` is remembered in its own cookie, not in the sign-in session:
the choice must outlive the session, so that the "signed out" page after a portal's
RP-initiated logout is still in the person's language (issue 9 item 12). The person's
own toggle wins over any portal's hint.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from babel import Locale
from flask import Response, after_this_request, current_app, g, has_app_context, request
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
    """The language of this request (the order in the module's docstring)."""
    offered: tuple[str, ...] = current_app.config["CLEF_LANGUAGES"]
    asked = request._get_current_object()  # type: ignore[attr-defined]
    cookies = asked.cookies
    chosen = cookies.get(LANGUAGE_COOKIE)
    if chosen is not None and chosen in offered:
        return str(chosen)
    hints = g.get("ui_locales")
    if hints:
        first = _first_offered(hints)
        if first is not None:
            return first
    hinted = cookies.get(UI_LOCALES_COOKIE)
    if hinted is not None and hinted in offered:
        return str(hinted)
    return _best_accepted(asked, offered)


_ACCEPTED: dict[tuple[tuple[str, ...], str], str] = {}  # (offered, Accept-Language) -> code
MAX_ACCEPTED = 512  # distinct headers remembered (a browser sends the same one each time)
MAX_ACCEPT_HEADER = 256  # longer headers are answered afresh, not remembered


def _best_accepted(asked: Any, offered: tuple[str, ...]) -> str:
    """Werkzeug's ``accept_languages.best_match`` of the offered languages, remembered
    per header (issue 11: parsing it is ~40 Python calls a page, for the answer the
    same header gave before)."""
    # No header and an empty one parse alike (``parse_accept_header``: nothing accepted).
    header = asked.environ.get("HTTP_ACCEPT_LANGUAGE", "")
    if len(header) > MAX_ACCEPT_HEADER:
        return str(asked.accept_languages.best_match(offered) or offered[0])
    key = (offered, header)
    found = _ACCEPTED.get(key)
    if found is None:
        found = str(asked.accept_languages.best_match(offered) or offered[0])
        if len(_ACCEPTED) >= MAX_ACCEPTED:
            _ACCEPTED.clear()
        _ACCEPTED[key] = found
    return found


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
_LOCALES: dict[str, Locale] = {}  # one per offered language: select_locale answers no other


def page_translations() -> Any:
    """This request's translations, looked up once per locale: Flask-Babel finds them
    again (context, locale, cache key) at every ``_()`` of a template, a dozen or more
    per page (issue 11). Remembered beside the locale object they were found for, so
    ``force_locale`` (mail in the person's language) and ``refresh`` still switch."""
    return page_language()[1]


def page_language() -> tuple[str, Any]:
    """This request's language code and translations (:func:`page_translations`).

    The request's first look-up chooses the locale as Flask-Babel's ``get_locale``
    does with :func:`select_locale` as its selector (the one Clef installs), with one
    ``Locale`` per language kept for the process instead of one parsed per request."""
    if not has_app_context():
        return "", get_translations()  # Flask-Babel's null translations
    store = g._get_current_object()
    space = getattr(store, "_flask_babel", None)
    if space is None:
        space = store._flask_babel = SimpleNamespace()  # as Flask-Babel makes it
    locale = getattr(space, "babel_locale", None)
    if locale is None:
        code = select_locale()
        locale = _LOCALES.get(code)
        if locale is None:
            locale = _LOCALES[code] = Locale.parse(code)
        space.babel_locale = locale
    else:
        memo = getattr(space, MEMO, None)
        if memo is not None and memo[0] is locale:
            return memo[1]  # type: ignore[no-any-return]
    found = (str(locale), _translations_for(space, locale))
    setattr(space, MEMO, (locale, found))
    return found


def _translations_for(space: Any, locale: Locale) -> Any:
    """Flask-Babel's ``get_translations()`` for ``locale``, kept per app and language
    (Flask-Babel keeps them too, behind ~60 calls of look-ups); a domain chosen for the
    request (``Domain.as_default``, unused in Clef) is asked as Flask-Babel would."""
    if getattr(space, "babel_domain", None) is not None:
        return get_translations()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    by_locale: dict[Locale, Any] | None = app.extensions.get(MEMO)
    if by_locale is None:
        by_locale = app.extensions[MEMO] = {}
    found = by_locale.get(locale)
    if found is None:
        found = by_locale[locale] = get_translations()
    return found


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
