"""Form shapes of the core screens (Flask-WTF: CSRF on every form, S24). Rules live in
the services; forms only say what fields exist and their labels."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, Field, PasswordField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

REQUIRED = _l("This field is required.")
DIGITS_ONLY = _l("Type the code with the digits 0 to 9.")


class AsciiCode:
    """A typed code may hold only ASCII: Unicode digits (Arabic-Indic, full-width, ...)
    look like a code but are never one. Refused as a form error (a 400 that counts no
    attempt and changes nothing), before any service compares it."""

    def __init__(self, message: object = DIGITS_ONLY) -> None:
        self.message = message

    def __call__(self, _form: object, field: Field) -> None:
        if not str(field.data or "").isascii():
            raise ValidationError(str(self.message))


class SignInForm(FlaskForm):
    username = StringField(
        _l("Username"),
        validators=[DataRequired(message=REQUIRED)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    # S9: type=password, pasting and password managers allowed (no autocomplete=off).
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(message=REQUIRED)],
        render_kw={"autocomplete": "current-password"},
    )


class RegisterForm(FlaskForm):
    username = StringField(
        _l("Username"),
        validators=[DataRequired(message=REQUIRED)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(message=REQUIRED)],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("Confirm password"),
        validators=[DataRequired(message=REQUIRED)],
        render_kw={"autocomplete": "new-password"},
    )
    email = EmailField(
        _l("Recovery email (optional)"),
        validators=[
            Optional(),
            Length(max=254, message=_l("The email address is too long.")),
            Email(message=_l("Enter an email address such as name@example.com."),
                  check_deliverability=False),
        ],
        render_kw={"autocomplete": "email"},
    )


class EmailCodeForm(FlaskForm):
    code = StringField(
        _l("Confirmation code"),
        validators=[DataRequired(message=REQUIRED), Length(max=20), AsciiCode()],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class PostOnlyForm(FlaskForm):
    """A form with no fields: the CSRF token of a button (sign out, stay signed in)."""
