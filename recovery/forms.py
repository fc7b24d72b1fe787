"""Form shapes of the recovery screens (Flask-WTF: CSRF on every form, S24). The rules
live in the services; forms say what fields exist, their labels and their lengths."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, Length

from idp.forms import REQUIRED, AsciiCode
from recovery.models import HINT_MAX_LENGTH

ANSWER_MAX_LENGTH = 200
TOO_LONG = _l("Use at most %(max)d characters.")
DATE_FORMAT = _l("Enter a date such as 2001-05-31.")
# Answers are typed in the clear, like the hints above them, but kept out of the
# browser's form history and spelling services.
ANSWER_FIELD = {"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none"}


def _text(label: object, limit: int, **render_kw: str) -> StringField:
    return StringField(label, validators=[DataRequired(message=REQUIRED),
                                          Length(max=limit, message=TOO_LONG)],
                       render_kw=render_kw or None)


def _date(label: object) -> DateField:
    return DateField(label, format="%Y-%m-%d",
                     validators=[DataRequired(message=DATE_FORMAT)])


def _strip(value: str | None) -> str | None:
    return value.strip() if value else value


class RecoveryEmailForm(FlaskForm):  # type: ignore[misc]  # FlaskForm is untyped
    email = EmailField(
        _l("Recovery email"),
        filters=[_strip],
        validators=[
            DataRequired(message=REQUIRED),
            Length(max=254, message=_l("The email address is too long.")),
            Email(message=_l("Enter an email address such as name@example.com."),
                  check_deliverability=False),
        ],
        render_kw={"autocomplete": "email"},
    )


class UsernameForm(FlaskForm):  # type: ignore[misc]  # FlaskForm is untyped
    username = StringField(
        _l("Username"),
        validators=[DataRequired(message=REQUIRED), Length(max=256)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )


class ResetCodeForm(FlaskForm):  # type: ignore[misc]  # FlaskForm is untyped
    code = StringField(
        _l("Confirmation code"),
        validators=[DataRequired(message=REQUIRED), Length(max=20), AsciiCode()],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class RecoveryAnswerForm(FlaskForm):  # type: ignore[misc]  # FlaskForm is untyped
    answer = _text(_l("My recovery answer"), ANSWER_MAX_LENGTH, **ANSWER_FIELD)


class AllAnswersForm(FlaskForm):  # type: ignore[misc]  # FlaskForm is untyped
    """The questions route of J7: the three answers, each under its hint."""

    answer = _text(_l("My recovery answer"), ANSWER_MAX_LENGTH, **ANSWER_FIELD)
    person = _text(_l("My memorable person"), ANSWER_MAX_LENGTH, **ANSWER_FIELD)
    memorable_date = _date(_l("My memorable date"))


class QuestionsForm(FlaskForm):  # type: ignore[misc]  # FlaskForm is untyped
    """Setting the security questions (J2): the person writes the question and the hints."""

    question = _text(_l("My recovery question"), HINT_MAX_LENGTH)
    answer = _text(_l("My recovery answer"), ANSWER_MAX_LENGTH, **ANSWER_FIELD)
    person_hint = _text(_l("Hint for my memorable person"), HINT_MAX_LENGTH)
    person = _text(_l("My memorable person"), ANSWER_MAX_LENGTH, **ANSWER_FIELD)
    date_hint = _text(_l("Hint for my memorable date"), HINT_MAX_LENGTH)
    memorable_date = _date(_l("My memorable date"))


class NewPasswordForm(FlaskForm):  # type: ignore[misc]  # FlaskForm is untyped
    # S9: type=password, pasting and password managers allowed.
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(message=REQUIRED)],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("Confirm the new password"),
        validators=[DataRequired(message=REQUIRED)],
        render_kw={"autocomplete": "new-password"},
    )
