"""The request's language and translations found once per language and header
(``idp.i18n.page_translations``, ``select_locale``) and the form macros imported
without Jinja's set arithmetic (``idp.template_context.QuickImportTemplate``), issue 11:
the same answers as Flask-Babel's and Jinja's own, and none carried from one request
or person to the next."""

from __future__ import annotations

from babel import Locale
from flask import Flask, g
from flask_babel import force_locale, get_locale, get_translations
from jinja2 import DictLoader, Environment, Template

from idp.i18n import LANGUAGE_COOKIE, UI_LOCALES_COOKIE, page_translations, select_locale
from idp.template_context import QuickImportTemplate

CASES = [
    {},
    {"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"},
    {"Accept-Language": "de, en;q=0.1"},
    {"Accept-Language": "de"},
    {"Accept-Language": "en;q=0.2, fr;q=0.8"},
    {"Accept-Language": ""},
    {"Accept-Language": "fr;q=0.5," * 60},  # longer than what is remembered
    {"Accept-Language": "en", "Cookie": f"{LANGUAGE_COOKIE}=fr"},
    {"Accept-Language": "fr", "Cookie": f"{LANGUAGE_COOKIE}=en"},
    {"Accept-Language": "fr", "Cookie": f"{LANGUAGE_COOKIE}=xx"},
    {"Accept-Language": "en", "Cookie": f"{UI_LOCALES_COOKIE}=fr"},
    {"Cookie": f"{UI_LOCALES_COOKIE}=<b>"},
]


def _flask_babels(app: Flask, headers: dict[str, str], path: str = "/") -> str:
    """What Flask-Babel alone chooses: its get_locale with Clef's selector."""
    with app.test_request_context(path, headers=headers):
        return str(get_locale())


def test_the_language_is_flask_babels_choice_request_after_request(app: Flask) -> None:
    for _ in range(2):  # the second time from what was remembered
        for headers in CASES + list(reversed(CASES)):
            expected = _flask_babels(app, headers)
            with app.test_request_context("/", headers=headers):
                translations = page_translations()
                assert str(get_locale()) == expected, headers
                assert translations is get_translations(), headers
                assert select_locale() == expected


def test_a_portals_ui_locales_wins_over_the_header_each_request(app: Flask) -> None:
    headers = {"Accept-Language": "en"}
    with app.test_request_context("/", headers=headers):
        g.ui_locales = ("fr-FR", "en")
        assert str(get_locale()) == "fr"
    with app.test_request_context("/", headers=headers):  # not carried over
        assert str(get_locale()) == "en"
        assert page_translations().ugettext("Sign in") == "Sign in"


def test_force_locale_switches_and_comes_back(app: Flask) -> None:
    with app.test_request_context("/", headers={"Accept-Language": "fr"}):
        assert page_translations().ugettext("Sign in") == "Se connecter"
        with force_locale("en"):
            assert page_translations().ugettext("Sign in") == "Sign in"
        assert page_translations().ugettext("Sign in") == "Se connecter"


def test_one_locale_object_per_language_and_app_translations(app: Flask) -> None:
    seen = []
    for headers in ({"Accept-Language": "fr"}, {"Cookie": f"{LANGUAGE_COOKIE}=fr"}):
        with app.test_request_context("/", headers=headers):
            page_translations()
            seen.append(get_locale())
    assert seen[0] is seen[1] and seen[0] == Locale.parse("fr")


SOURCES = {
    "macros.html": "{% macro hello() %}[{{ extra | default('none') }}]{% endmacro %}"
                   "{% set seen = extra | default('none') %}",
    "page.html": '{% import "macros.html" as m %}{{ m.seen }}{{ m.hello() }}'
                 '{% from "macros.html" import hello %}{{ hello() }}',
}


def _environment(template_class: type[Template]) -> Environment:
    env = Environment(loader=DictLoader(SOURCES), autoescape=True)
    env.template_class = template_class
    return env


def test_imports_are_jinjas_with_and_without_new_globals() -> None:
    plain, quick = _environment(Template), _environment(QuickImportTemplate)
    for env in (plain, quick):
        env.globals["shared"] = 1
    for extra in (None, "<one>", "two"):
        for _ in range(2):  # the cached module must not keep another page's global
            answers = []
            for env in (plain, quick):
                page = env.get_template("page.html",
                                        globals=None if extra is None else {"extra": extra})
                answers.append(page.render())
            assert answers[0] == answers[1], extra
            assert (extra is None) == ("none" in answers[1])
    assert type(quick.get_template("page.html")) is QuickImportTemplate


def test_the_app_renders_its_templates_with_the_quick_import(app: Flask) -> None:
    assert app.jinja_env.template_class is QuickImportTemplate
    body = app.test_client().get("/signin").get_data(as_text=True)
    assert 'name="username"' in body


def test_a_renders_globals_are_jinjas_even_when_changed_after_loading() -> None:
    """The context's globals, read flat, are the ChainMap's as it is at each render:
    the template's own before the environment's, a later change of either seen."""
    sources = {"page.html": "[{{ shared }}|{{ own | default('-') }}|{{ late | default('-') }}]"
                            "{% import 'macros.html' as m %}{{ m.hello() }}",
               "macros.html": "{% macro hello() %}({{ shared }}){% endmacro %}"}
    envs = []
    for template_class in (Template, QuickImportTemplate):
        env = Environment(loader=DictLoader(sources), autoescape=True)
        env.template_class = template_class
        env.globals["shared"] = "<env>"
        envs.append(env)
    answers: list[list[str]] = [[], []]
    for index, env in enumerate(envs):
        page = env.get_template("page.html", globals={"shared": "<own>", "own": "mine"})
        answers[index].append(page.render())
        env.globals["late"] = "later"  # after the template was loaded
        page.globals["own"] = "changed"
        answers[index].append(page.render())
        answers[index].append(page.render(shared="<var>", own="var"))  # vars win
    assert answers[0] == answers[1]
    assert answers[1][0].startswith("[&lt;own&gt;|mine|-]")
    assert answers[1][1].startswith("[&lt;own&gt;|changed|later]")
    assert answers[1][2].startswith("[&lt;var&gt;|var|later]")


TEXT_SOURCES = {
    "base.html": "<title>{% block title %}{{ _('Sign in') }}{% endblock %}</title>"
                 "{% block content %}{% endblock %}",
    "page.html": "{% extends 'base.html' %}{% import 'macros.html' as m %}"
                 "{% block content %}[{{ _('Continue') }}|{{ gettext('100%% sure') }}]"
                 "{% for n in [1, 2] %}{{ _('Sign in') }}{{ n }}{% endfor %}"
                 "{{ m.hello() }}{% call m.wrap() %}{{ _('Register') }}{% endcall %}"
                 "{{ _('<b>not in the catalogue</b> & more') }}"
                 "{{ _('Sign in to %(portal)s?', portal='<Jobs>') }}"
                 "{% autoescape false %}{{ _('<b>raw</b>') }}{% endautoescape %}"
                 "{% set _ = gettext %}{{ _('Language') }}{% endblock %}",
    "macros.html": "{% macro hello() %}({{ _('Language') }}){% endmacro %}"
                   "{% macro wrap() %}<{{ caller() }}>{% endmacro %}",
    "mail.txt": "{{ _('Sign in') }} {{ _('<b>x</b>') }}",
}


def test_texts_compiled_quick_are_jinjas_own(app: Flask) -> None:
    """The same pages through Jinja's own code generator and through Clef's, with
    Clef's remembered ``_`` in the context and with only Jinja's installed one."""
    plain = app.jinja_env.overlay(loader=DictLoader(TEXT_SOURCES))
    plain.code_generator_class = Environment.code_generator_class
    quick = app.jinja_env.overlay(loader=DictLoader(TEXT_SOURCES))
    assert plain.code_generator_class is not quick.code_generator_class
    for language in ("en", "fr"):
        with app.test_request_context("/", headers={"Cookie": f"{LANGUAGE_COOKIE}={language}"}):
            context: dict[str, object] = {}
            app.update_template_context(context)  # Clef's ``_`` and ``gettext``
            for name in ("page.html", "mail.txt"):
                for given in (context, {}):  # {}: the environment's installed gettext
                    ours = [quick.get_template(name).render(given) for _ in range(2)]
                    theirs = plain.get_template(name).render(given)
                    assert ours[0] == ours[1] == theirs, (language, name, bool(given))
            assert "Se connecter" in theirs if language == "fr" else "Sign in" in theirs
    compiled = quick.compile(TEXT_SOURCES["page.html"], raw=True)
    assert compiled.count("environment.quick_text(") >= 6
    assert "quick_text" not in plain.compile(TEXT_SOURCES["page.html"], raw=True)
