"""The inputs of Clef's forms, rendered from a shape made once (``idp.forms.QuickInputs``,
issue 11), are the very HTML WTForms makes: for every field of every form, pristine,
filled, with the macro's aria attributes, and with hostile values (quotes, markup, the
mark the shape is cut at, a value that claims to be safe HTML)."""

from __future__ import annotations

import pytest
from flask import Flask
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from wtforms.meta import DefaultMeta

import idp.forms
import mfa.forms
from idp.forms import VALUE_MARK, ClefForm

FORMS = [cls for module in (idp.forms, mfa.forms) for cls in vars(module).values()
         if isinstance(cls, type) and issubclass(cls, ClefForm) and cls is not ClefForm]
HOSTILE = ['" autofocus onfocus="alert(1)', "<script>alert(1)</script>", "a&b'c",
           f"x{VALUE_MARK}y", "\u0660\u0661", "plain"]
ARIA = [{}, {"aria-describedby": "code-hint code-error", "aria-invalid": "true"},
        {"aria-describedby": "x-hint", "aria-invalid": "false"}]


def wtforms_html(field: object, **attributes: object) -> str:
    return str(DefaultMeta().render_field(field, attributes))


@pytest.mark.parametrize("form_class", FORMS, ids=lambda cls: cls.__name__)
def test_every_input_renders_as_wtforms_renders_it(app: Flask, form_class: type) -> None:
    assert FORMS, "the forms were found"
    for value in ["", *HOSTILE, Markup('"quoted" <b>markup</b>')]:
        with app.test_request_context("/", method="POST"):
            data = MultiDict({name: value for name in form_class().data})
            form = form_class(formdata=data)
            form.validate()
            for field in form:
                for attributes in ARIA:
                    assert str(field(**attributes)) == wtforms_html(field, **attributes), (
                        form_class.__name__, field.name, value, attributes)
                assert str(field) == wtforms_html(field)


def test_a_value_is_never_cached_into_the_shape(app: Flask) -> None:
    """Two people's values, one after the other: each page shows only its own."""
    with app.test_request_context("/"):
        first = idp.forms.SignInForm(formdata=MultiDict({"username": "alice"}))
        second = idp.forms.SignInForm(formdata=MultiDict({"username": "bob"}))
        assert 'value="alice"' in str(first.username())
        rendered = str(second.username())
        assert 'value="bob"' in rendered and "alice" not in rendered
        assert VALUE_MARK not in rendered
        # The password is never shown back, whatever was typed (PasswordInput).
        typed = idp.forms.SignInForm(formdata=MultiDict({"password": "s3cret"}))
        assert "s3cret" not in str(typed.password())
