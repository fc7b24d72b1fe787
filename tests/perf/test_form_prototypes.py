"""Forms built from their class's prototype (``idp.form_prototypes``) and Flask-WTF's
settings read once per form (``idp.forms.ConfigOnce``), issue 11, against WTForms' and
Flask-WTF's own answers: every form of Clef's screens, on a page and posted (pristine,
filled, hostile, a field repeated or huge), in English and French, attribute by
attribute, rendered and validated; no field object shared between two forms; the CSRF
token of one session never in another's form; a POST without, with a stale or with
another session's token refused as before."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from flask import Flask, session
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto
from werkzeug.datastructures import MultiDict
from wtforms import StringField
from wtforms.fields.core import Flags, Label

import idp.forms
import mfa.forms
from idp import form_prototypes
from idp.forms import ClefForm, ConfigOnce
from idp.i18n import LANGUAGE_COOKIE

FORMS = [cls for module in (idp.forms, mfa.forms) for cls in vars(module).values()
         if isinstance(cls, type) and issubclass(cls, ClefForm) and cls is not ClefForm]
LANGUAGES = ["en", "fr"]
VALUES = ["", "alice", '" autofocus onfocus="alert(1)', "<b>x</b>&", "\u0660\u0661\u0662",
          "9" * 5000, "y"]


def wtforms_form(cls: type[ClefForm]) -> Any:
    """The form as WTForms and Flask-WTF build it (``meta={}`` takes the ordinary path)."""
    return cls(meta={})


def prototyped(cls: type[ClefForm]) -> Any:
    """A form of ``cls`` built after the first, from the prototype that first one left,
    when every field of the class can be kept (a security key's hidden answer has no
    label, so its forms are always WTForms' own). Checked on this class's own entry:
    another test may have emptied the table, or filled it with other classes'."""
    cls()  # the first of its class may be the one kept
    form = cls()
    options = {"name": "", "prefix": "", "translations": None}
    keepable = all(form_prototypes.keepable(unbound, options)
                   for _, unbound in cls._unbound_fields)  # type: ignore[attr-defined]
    kept = any(key[0] is cls for key in form_prototypes._prototypes)
    assert kept == keepable, (cls.__name__, kept, keepable)
    return form


def _same_field(mine: Any, theirs: Any, form: Any) -> None:
    assert type(mine) is type(theirs)
    assert set(vars(mine)) == set(vars(theirs)), (mine.name, set(vars(mine)) ^ set(vars(theirs)))
    for name, value in vars(theirs).items():
        got = vars(mine)[name]
        if name == "_form":
            assert got is form
        elif name == "meta":
            assert got is form.meta
        elif name == "csrf_impl":
            assert got is form._csrf
        elif isinstance(value, Flags):
            assert vars(got) == vars(value)
        elif isinstance(value, Label):
            assert (got.field_id, str(got.text)) == (value.field_id, str(value.text))
            assert got() == value()
        else:
            assert got == value, (mine.name, name)


def _same_form(mine: Any, theirs: Any) -> None:
    assert set(vars(mine)) == set(vars(theirs))
    assert list(mine._fields) == list(theirs._fields)
    for name in ("_prefix", "_form_error_key", "form_errors", "_parent_form"):
        assert getattr(mine, name) == getattr(theirs, name)
    assert type(mine.meta) is type(theirs.meta)
    if hasattr(theirs, "_csrf"):
        assert type(mine._csrf) is type(theirs._csrf) and mine._csrf.meta is mine.meta
    for name, field in theirs._fields.items():
        assert getattr(mine, name) is mine._fields[name]
        _same_field(mine._fields[name], field, mine)
        assert str(mine._fields[name]()) == str(field()), name
        assert str(mine._fields[name].label()) == str(field.label()), name


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("form_class", FORMS, ids=lambda cls: cls.__name__)
def test_a_prototyped_form_is_the_form_wtforms_builds(app: Flask, form_class: type,
                                                      language: str) -> None:
    cookie = {"Cookie": f"{LANGUAGE_COOKIE}={language}"}
    with app.test_request_context("/", headers=cookie):
        _same_form(prototyped(form_class), wtforms_form(form_class))
    names = list(wtforms_form_names(app, form_class))
    for value in VALUES:
        data = MultiDict([(name, value) for name in names] + [(names[0], "second")])
        with app.test_request_context("/", method="POST", data=data, headers=cookie):
            app.preprocess_request()
            mine, theirs = prototyped(form_class), wtforms_form(form_class)
            _same_form(mine, theirs)
            assert mine.validate() == theirs.validate()
            assert _errors(mine) == _errors(theirs), (form_class.__name__, value)
            assert mine.data == theirs.data


def wtforms_form_names(app: Flask, form_class: type) -> list[str]:
    with app.test_request_context("/"):
        return [name for name in wtforms_form(form_class)._fields]


def _errors(form: Any) -> dict[str, list[str]]:
    return {name: [str(e) for e in errors] for name, errors in form.errors.items()}


def test_the_messages_are_the_languages_own(app: Flask) -> None:
    """A form kept while the page was in one language says the other's messages."""
    seen = {}
    for language in ["fr", "en", "fr"]:
        with app.test_request_context("/", method="POST", data={"code": "9" * 40},
                                      headers={"Cookie": f"{LANGUAGE_COOKIE}={language}"}):
            app.preprocess_request()
            form = mfa.forms.CodeForm()
            form.validate()
            theirs = wtforms_form(mfa.forms.CodeForm)
            theirs.validate()
            assert _errors(form)["code"] == _errors(theirs)["code"]
            seen[language] = (_errors(form)["code"], str(form.code.label.text))
    assert seen["fr"] != seen["en"], seen


def test_no_field_object_is_shared_between_two_forms(app: Flask) -> None:
    with app.test_request_context("/"):
        first, second = prototyped(idp.forms.SignInForm), idp.forms.SignInForm()
        for name in first._fields:
            a, b = first._fields[name], second._fields[name]
            assert a is not b and a.flags is not b.flags and a.label is not b.label
            assert a.render_kw is not b.render_kw or a.render_kw is None
            assert a._form is first and b._form is second
        first.username.render_kw["autofocus"] = True  # a view changing one form's field
        first.username.label.text = "changed"
        assert "autofocus" not in str(idp.forms.SignInForm().username())
        assert str(idp.forms.SignInForm().username.label.text) != "changed"


def test_a_field_added_to_the_class_is_in_the_next_form(app: Flask) -> None:
    """A prototype is of the class's fields as they were: one added later is bound."""

    class Grown(ClefForm):
        code = StringField("Code")

    with app.test_request_context("/"):
        assert list(prototyped(Grown)._fields) == ["code", "csrf_token"]
        Grown.extra = StringField("Extra")  # type: ignore[attr-defined]
        grown = Grown()
        assert list(grown._fields) == ["code", "extra", "csrf_token"]
        _same_form(grown, wtforms_form(Grown))
        _same_form(Grown(), wtforms_form(Grown))


def test_each_session_gets_its_own_token(app: Flask) -> None:
    tokens = []
    for _ in range(2):
        with app.test_request_context("/"):
            app.preprocess_request()
            form = prototyped(idp.forms.SignInForm)
            tokens.append((str(form.csrf_token.current_token), session.get("csrf_token")))
    assert tokens[0][0] != tokens[1][0] and tokens[0][1] != tokens[1][1]


@pytest.mark.parametrize("config", [
    {}, {"WTF_CSRF_ENABLED": False}, {"WTF_CSRF_FIELD_NAME": "token"},
    {"WTF_CSRF_TIME_LIMIT": None}, {"WTF_CSRF_TIME_LIMIT": 60}, {"WTF_I18N_ENABLED": False},
    {"WTF_CSRF_SECRET_KEY": "another secret"},
], ids=str)
def test_the_settings_read_once_are_flask_wtfs(app: Flask, config: dict[str, Any]) -> None:
    saved = {key: app.config[key] for key in config if key in app.config}
    app.config.update(config)
    try:
        with app.test_request_context("/"):
            theirs = FlaskForm.Meta()
            mine = type("Meta", (ConfigOnce, FlaskForm.Meta), {})()
            for name in ("csrf", "csrf_secret", "csrf_field_name", "csrf_time_limit"):
                assert getattr(mine, name) == getattr(theirs, name), name
            assert mine.get_translations(None) is theirs.get_translations(None)
            # A form of each kind agrees with WTForms' too (its CSRF field, or none).
            _same_form(prototyped(idp.forms.SignInForm), wtforms_form(idp.forms.SignInForm))
    finally:
        for key in config:
            app.config.pop(key, None)
        app.config.update(saved)


def test_flask_wtf_still_marks_a_form_made_the_ordinary_way_with_auto() -> None:
    """``ClefForm`` tells an ordinary form by Flask-WTF's own default: still that object."""
    assert inspect.signature(FlaskForm.__init__).parameters["formdata"].default is _Auto


def test_a_post_without_or_with_a_wrong_token_is_refused(app: Flask) -> None:
    browser, other = app.test_client(), app.test_client()
    page = browser.get("/signin").get_data(as_text=True)
    theirs = other.get("/signin").get_data(as_text=True)

    def token(html: str) -> str:
        return html.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]

    base = {"username": "alice", "password": "wrong password"}
    assert browser.post("/signin", data=base).status_code == 400
    assert browser.post("/signin", data={**base, "csrf_token": token(theirs)}).status_code == 400
    assert browser.post("/signin", data={**base, "csrf_token": token(page) + "x"}).status_code == 400
    stale = token(page)
    browser.delete_cookie("clef_session")  # a new session: the old page's token is stale
    browser.get("/signin")
    assert browser.post("/signin", data={**base, "csrf_token": stale}).status_code == 400
