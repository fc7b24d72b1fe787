"""What every page template can use: the language toggle, the session's deadline for
the idle warning (J4), the sign-out form; and, for speed (issue 11), ``_()`` and
``url_for`` answered from what they answered before."""

from __future__ import annotations

import re
import string
from collections import ChainMap
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from flask import Flask, request, url_for
from jinja2 import Template, nodes, pass_eval_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.nodes import EvalContext
from jinja2.runtime import new_context
from markupsafe import Markup

from idp.forms import FORM_TOKEN
from idp.i18n import page_language, page_translations
from idp.redirects import request_target, safe_next
from idp.runtime import services
from idp.sessions import ANONYMOUS
from idp.web_session import PASSIVE_ENDPOINTS, current_session

LANGUAGE_NAMES = {"en": "English", "fr": "Français"}
# Werkzeug's query encoding (``werkzeug.urls._urlencode``: ``urlencode`` with these
# characters left as they are, UTF-8, a space as ``+``), as one table over the bytes.
QUERY_SAFE = "!$'()*,/:;?@"
_QUERY_TABLE = {
    code: chr(code) if chr(code) in string.ascii_letters + string.digits + "_.-~" + QUERY_SAFE
    else "+" if code == 0x20 else f"%{code:02X}"
    for code in range(256)
}
MAX_REMEMBERED = 512  # translated texts per language, built URLs per app
MAX_URL_VALUE = 64  # longer values (a ``next``) are data, not one of a page's few links


def query_value(value: str) -> str:
    """``value`` encoded for a query string exactly as ``url_for`` encodes it, in one
    pass in C instead of a Python call per character (the ``next`` of an authorization
    request is a few hundred characters, on two links of every page)."""
    return value.encode("utf-8").decode("latin-1").translate(_QUERY_TABLE)


def _here(req: Any) -> str:
    """This page, for the language toggle to come back to (a form's own page after a POST)."""
    return request_target(req.method, req.full_path) or safe_next(req.path) or "/"


def _language_facts(app: Flask, code: str, translations: Any) -> dict[str, Any]:
    """What every page of one language shows the same (issue 11: made once per
    language, not per page): its texts, the other languages, the service's settings."""
    svc = services()
    gettext = remembered_gettext(translations)
    return {
        "service_name": svc.settings.service.name,
        "locale": code,
        "other_languages": [(other, LANGUAGE_NAMES.get(other, other))
                            for other in app.config["CLEF_LANGUAGES"] if other != code],
        "session_warn_seconds": svc.settings.session.warn_before_seconds,
        # ``_`` too: Jinja's own ``_`` only looks ``gettext`` up in the context and calls it.
        "gettext": gettext,
        "_": gettext,
    }


def _request_facts(req: Any) -> dict[str, Any]:
    """What is this page's own: where it is, the session's level and deadline."""
    current = current_session()
    deadline_seconds = None
    if current.record is not None and current.level != ANONYMOUS:
        svc = services()
        # A page a request made by itself (PASSIVE_ENDPOINTS) did not renew the clock.
        active = req.endpoint not in PASSIVE_ENDPOINTS
        deadline_seconds = svc.sessions.seconds_left(current.record, svc.clock.now(), active)
    here = _here(req)
    return {
        "here": here,
        "next_query": "next=" + query_value(here),  # the toggle's and the idle warning's
        "session_level": current.level,
        "session_deadline_seconds": deadline_seconds,
        # Only pages of a session that can sign out carry this form's token; an
        # anonymous page view does not create a session row for it.
        "post_form": FORM_TOKEN if current.level != ANONYMOUS else None,
    }


_gettexts: dict[Any, Callable[..., str]] = {}


def remembered_gettext(translations: Any) -> Callable[..., str]:
    """Jinja's newstyle ``gettext`` for these translations, each text without variables
    translated, escaped and formatted once (issue 11): through Jinja's wrapper and
    Flask-Babel a ``_()`` costs ~50 Python calls, a dozen or more per page. A template's
    context names its own ``gettext``, so each page gets the one of its request's
    language (the toggle, ``ui_locales``, ``force_locale`` for mail)."""
    found = _gettexts.get(translations)
    if found is None:
        found = _gettext_for(translations)
        if len(_gettexts) >= MAX_REMEMBERED:
            _gettexts.clear()
        _gettexts[translations] = found
    return found


def _gettext_for(translations: Any) -> Callable[..., str]:
    done: dict[tuple[bool, str], str] = {}

    @pass_eval_context
    def gettext(eval_ctx: EvalContext, text: str, **variables: Any) -> str:
        """As ``jinja2.ext._make_new_gettext``: Markup when autoescaping, then always
        ``%`` (``%%`` becomes ``%``)."""
        if variables:
            return _formatted(translations.ugettext(text), eval_ctx.autoescape, variables)
        key = (eval_ctx.autoescape, text)
        found = done.get(key)
        if found is None:
            found = _formatted(translations.ugettext(text), eval_ctx.autoescape, {})
            if len(done) < MAX_REMEMBERED:
                done[key] = found
        return found

    gettext.remembered = done  # type: ignore[attr-defined]  # read by quick_text
    return gettext


TEXT_CALLS = frozenset({"_", "gettext"})


class QuickTextCodeGenerator(CodeGenerator):
    """Jinja's code generator, with ``_("a text")`` (one literal, nothing else) compiled
    to :func:`quick_text` instead of ``context.call`` (issue 11): ~18 Python calls a
    text through Jinja's call machinery, a dozen texts a page, for an answer
    :func:`remembered_gettext` already holds. Everything else is Jinja's."""

    def visit_Call(self, node: nodes.Call, frame: Frame, forward_caller: bool = False) -> None:
        literal = node.args[0] if len(node.args) == 1 else None
        if (forward_caller or self.environment.is_async or self.environment.sandboxed
                or not isinstance(node.node, nodes.Name) or node.node.name not in TEXT_CALLS
                or not isinstance(literal, nodes.Const) or type(literal.value) is not str
                or node.kwargs or node.dyn_args is not None or node.dyn_kwargs is not None):
            super().visit_Call(node, frame, forward_caller=forward_caller)
            return
        self.write("environment.quick_text(context, ")
        self.visit(node.node, frame)
        self.write(f", {literal.value!r}")
        if frame.loop_frame:
            self.write(", _loop_vars=_loop_vars")
        if frame.block_frame:
            self.write(", _block_vars=_block_vars")
        self.write(")")


def quick_text(context: Any, func: Any, text: str, **passed: Any) -> Any:
    """``context.call(func, text)``, from :func:`remembered_gettext`'s answers when
    ``func`` is one and has answered this text before; else Jinja's own call (the
    loop's and block's variables passed as Jinja passes them)."""
    done = getattr(func, "remembered", None)
    if done is not None:
        found = done.get((context.eval_ctx.autoescape, text))
        if found is not None:
            return found
    return context.call(func, text, **passed)


def _formatted(translated: str, autoescape: bool, variables: dict[str, Any]) -> str:
    # The catalogue's text is trusted, as in Jinja's own; ``%`` escapes the variables.
    text = Markup(translated) if autoescape else translated  # noqa: S704
    return text % variables


def _rememberable(endpoint: str, values: dict[str, Any]) -> bool:
    """A fixed link of a page: an absolute endpoint, short text values, no options."""
    if endpoint[:1] == ".":
        return False
    for name, value in values.items():
        if name[:1] == "_" or type(value) is not str or len(value) > MAX_URL_VALUE:
            return False
    return True


def _page_url_for(built: dict[tuple[Any, ...], str], root: str) -> Callable[..., str]:
    """The templates' ``url_for``, remembering the URLs of a page's fixed links (the
    style sheet, the home page, the language toggle's path) in ``built``: Werkzeug
    builds each afresh, ~60 Python calls, eight or more per page (issue 11). Only
    relative URLs of short text values are remembered, per script root (the app has
    no ``url_defaults``); anything else (``_external``, ``_anchor``, a ``.``-relative
    endpoint, a long value) is Flask's ``url_for``."""

    def page_url_for(endpoint: str, **values: Any) -> str:
        if _rememberable(endpoint, values):
            key = (root, endpoint, *values.items())
            found = built.get(key)
            if found is None:
                found = url_for(endpoint, **values)
                if len(built) < MAX_REMEMBERED:
                    built[key] = found
            return found
        return url_for(endpoint, **values)

    return page_url_for


class QuickImportTemplate(Template):
    """A Jinja template that makes its context and answers ``{% import %}`` /
    ``{% from ... import %}`` in C (issue 11). Jinja's own answer, whether the importing
    page has globals this template lacks, is a set less a ``dict.keys()`` view, ~120
    Python calls through ``collections.abc`` on every page that imports the form macros.
    The answer and what follows from it are Jinja's: no new globals, the module made
    once; new ones, a fresh module with them."""

    def _get_default_module(self, ctx: Any = None) -> Any:
        if ctx is not None and ctx.globals_keys.issubset(self.globals):
            ctx = None  # nothing to add: Jinja's cached module
        return super()._get_default_module(ctx)

    def new_context(self, vars: dict[str, Any] | None = None, shared: bool = False,
                    locals: Any = None) -> Any:
        """Jinja's context for a render, its globals read in C: a template's globals
        are a ``ChainMap`` (its own before the environment's, so that later changes
        of either are seen), which Jinja copies key by key in Python, ~40 calls a
        page. The same copy, made afresh at each render from the maps as they are
        now; anything but plain dicts is Jinja's."""
        found = self.globals
        if type(found) is not ChainMap:
            return super().new_context(vars, shared, locals)
        flat: dict[str, Any] = {}
        for one in reversed(found.maps):
            if type(one) is not dict:
                return super().new_context(vars, shared, locals)
            flat.update(one)
        return new_context(self.environment, self.name, self.blocks, vars, shared, flat,
                           locals)


LAYOUT_PARTS = "_layout_parts.html"
PART_MARK = re.compile(r"<!--part (\w+)-->")
# What the parts may use: the language's texts, fixed links, the service's settings.
LAYOUT_FACTS = ("locale", "service_name", "other_languages", "session_warn_seconds",
                "gettext", "_", "url_for")


def layout_parts(template: Template, facts: dict[str, Any]) -> SimpleNamespace:
    """The parts of the base layout the same on every page of a language
    (``templates/_layout_parts.html``), rendered from ``facts`` (only
    :data:`LAYOUT_FACTS`: nothing of a request or a person) and cut at their marks,
    each as Markup; the toggle's links as (start, end) pairs, one per other language."""
    pieces = PART_MARK.split(template.render({name: facts[name] for name in LAYOUT_FACTS}))
    parts: dict[str, Any] = {"toggle_start": [], "toggle_end": []}
    for name, text in zip(pieces[1::2], pieces[2::2], strict=True):
        part = Markup(text)  # noqa: S704  (rendered by Jinja with autoescape)
        if name in ("toggle_start", "toggle_end"):
            parts[name].append(part)
        else:
            parts[name] = part
    parts["toggle"] = list(zip(parts.pop("toggle_start"), parts.pop("toggle_end"), strict=True))
    return SimpleNamespace(**parts)


def register_template_context(app: Flask) -> None:
    app.jinja_env.template_class = QuickImportTemplate
    app.jinja_env.code_generator_class = QuickTextCodeGenerator
    app.jinja_env.quick_text = quick_text  # type: ignore[attr-defined]  # compiled code's
    built: dict[tuple[Any, ...], str] = {}  # this app's remembered URLs
    languages_seen: dict[tuple[Any, ...], dict[str, Any]] = {}  # its languages' facts

    def context() -> dict[str, Any]:
        """The page's facts: those of its language, with the layout's parts rendered
        at the language's first page (again when the template changed, with
        TEMPLATES_AUTO_RELOAD) and then taken as they are (issue 11: ~100-150 Python
        calls of Jinja's a page for text that does not change); its own; its
        ``url_for``."""
        req = request._get_current_object()  # type: ignore[attr-defined]
        root = req.root_path
        page_url = _page_url_for(built, root)
        code, translations = page_language()
        env = app.jinja_env
        template = env.get_template(LAYOUT_PARTS) if env.auto_reload else None
        key = (code, translations, root, template)
        language = languages_seen.get(key)
        if language is None:
            language = _language_facts(app, code, translations)
            language["layout"] = layout_parts(template or env.get_template(LAYOUT_PARTS),
                                              {**language, "url_for": page_url})
            if len(languages_seen) < MAX_REMEMBERED:
                languages_seen[key] = language
        return {**language, **_request_facts(req), "url_for": page_url}

    app.context_processor(context)
    # The same callables Flask-Babel installs, on the remembered translations.
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: page_translations().ugettext(s),
        ngettext=lambda s, p, n: page_translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: page_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: page_translations().unpgettext(c, s, p, n),
    )
