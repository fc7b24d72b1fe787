"""Form shapes of the core screens (Flask-WTF: CSRF on every form, S24). Rules live in
the services; forms only say what fields exist and their labels."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from flask import current_app, g, session
from flask_wtf import FlaskForm
from flask_wtf.csrf import _FlaskFormCSRF, generate_csrf
from flask_wtf.form import _Auto
from flask_wtf.i18n import translations
from markupsafe import Markup, escape
from wtforms import EmailField, Field, PasswordField, StringField
from wtforms.meta import DefaultMeta
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError
from wtforms.widgets import EmailInput, HiddenInput, PasswordInput, TextInput

from idp import form_prototypes
from idp.i18n import lazy_text as _l
from idp.keys import same_text

REQUIRED = _l("This field is required.")
DIGITS_ONLY = _l("Type the code with the digits 0 to 9.")


# Widgets whose HTML is ``Input.__call__``'s: a function of the field's id, name, flags,
# attributes and value only (no choices, no checked state, no date format).
PLAIN_INPUTS = (TextInput, PasswordInput, EmailInput, HiddenInput)
VALUE_MARK = "\x00clef-value\x00"  # survives WTForms' escaping unchanged
MAX_SHAPES = 512  # one entry per (form field, attributes) a template renders
Shape = tuple[str, str | None] | None  # the HTML before and after the value
_shapes: dict[tuple[Any, ...], Shape] = {}


class _ValueMark:
    """A field as its widget sees it, with the value replaced by :data:`VALUE_MARK`."""

    _datalist = None

    def __init__(self, field: Field) -> None:
        self.id, self.name, self.flags = field.id, field.name, field.flags
        self.widget, self.render_kw = field.widget, field.render_kw

    def _value(self) -> str:
        return VALUE_MARK


def _shape_key(field: Field, render_kw: dict[str, Any]) -> tuple[Any, ...] | None:
    """What an input's HTML depends on besides its value, or None when it may depend
    on more (another widget, a value given as an attribute, a callable flag)."""
    widget = field.widget
    if type(widget) not in PLAIN_INPUTS or getattr(field, "_datalist", None) is not None:
        return None
    own = field.render_kw or {}
    if "value" in render_kw or "value" in own:
        return None
    flags = tuple(sorted(vars(field.flags).items()))
    for _name, value in flags:  # a loop, not ``any(...)``: no generator call per flag
        if callable(value):
            return None
    try:
        key = (widget, field.id, field.name, flags, tuple(sorted(own.items())),
               tuple(sorted(render_kw.items())))
        hash(key)
    except TypeError:
        return None
    return key


class QuickInputs:
    """A form ``Meta`` mixin: plain ``<input>`` elements rendered from their HTML made
    once per shape, with the value escaped exactly as WTForms escapes it (issue 11).

    WTForms builds an input's attributes afresh at every render (the flags through
    ``dir()``, each attribute sorted, escaped and formatted): about 500 Python calls per
    input, 1,500 on the sign-in page. The HTML is the same every time but for the value,
    so it is made once by WTForms itself, with a mark in the value's place, and split
    there. Anything else (other widgets, a value given as an attribute) is WTForms'."""

    def render_field(self, field: Field, render_kw: dict[str, Any]) -> Markup:
        key = _shape_key(field, render_kw)
        value = field._value() if key is not None else None
        if key is None or not isinstance(value, str):
            return super().render_field(field, render_kw)  # type: ignore[misc, no-any-return]
        if key in _shapes:
            shape = _shapes[key]
        else:
            shape = self._shape(field, render_kw)
            if len(_shapes) < MAX_SHAPES:
                _shapes[key] = shape
        if shape is None:
            return super().render_field(field, render_kw)  # type: ignore[misc, no-any-return]
        before, after = shape
        # ``before`` and ``after`` are WTForms' own HTML; the value is escaped here.
        if after is None:
            return Markup(before)  # noqa: S704
        # As html_params: ``escape(v).replace(Markup('"'), Markup("&quot;"))``, with
        # str's own replace (the same text; Markup's escapes its two arguments first).
        quoted = str.replace(escape(value), '"', "&quot;")
        return Markup(before + quoted + after)  # noqa: S704

    def _shape(self, field: Field, render_kw: dict[str, Any]) -> Shape:
        """The input's HTML around its value (the whole of it when the widget does not
        show the value, as a password input), or None if the mark is not there once."""
        html = str(super().render_field(_ValueMark(field), dict(render_kw)))  # type: ignore[misc]
        parts = html.split(VALUE_MARK)
        if len(parts) == 1:
            return html, None
        if len(parts) == 2:
            return parts[0], parts[1]
        return None


MAX_SIGNED_TOKENS = 4096  # sessions whose signed form token this process remembers
_signed_tokens: dict[tuple[Any, str], str] = {}


def signed_form_token(secret: Any, field_name: str, time_limit: int | None) -> str:
    """The session's form token, signed as Flask-WTF signs it, remembered per raw token.

    Flask-WTF signs the session's raw token afresh on every page (an HMAC, base64 and a
    timestamp; ~150 Python calls). With no time limit (``WTF_CSRF_TIME_LIMIT=None``: the
    token lives as long as the session) the signature of one raw token under one secret
    is as good the next time, so it is made once per session and process. Checking on
    POST is Flask-WTF's, unchanged: a remembered token is still only ever the signature
    of that session's own raw token. With a time limit the timestamp matters and each
    page signs afresh. Within a request, as Flask-WTF: the token already made. ``g``
    and the session are each looked up once through their proxies (issue 11)."""
    store = g._get_current_object()
    made = store.get(field_name)
    if made is not None:
        return str(made)
    current = session._get_current_object()  # type: ignore[attr-defined]
    if time_limit is None:
        raw = current.get(field_name)
        remembered = _signed_tokens.get((secret, raw)) if isinstance(raw, str) else None
        if remembered is not None:
            setattr(store, field_name, remembered)
            return remembered
    signed: str = generate_csrf(secret_key=secret, token_key=field_name)
    raw = current.get(field_name)  # made just now if the session had none
    if time_limit is None and isinstance(raw, str):
        if len(_signed_tokens) >= MAX_SIGNED_TOKENS:
            _signed_tokens.clear()  # ended sessions' tokens go; the live ones are signed again
        _signed_tokens[(secret, raw)] = signed
    return signed


def is_remembered_signature(secret: Any, field_name: str, posted: Any) -> bool:
    """Whether ``posted`` is the signed token this process made for the session's own
    raw token under ``secret`` (:func:`signed_form_token`, no time limit): then
    Flask-WTF's check (``validate_csrf``: the signature opened, the raw token compared
    with the session's) can only pass, and its ~200 Python calls per POST are spared
    (issue 11). False sends the request to that check, which decides: another process's
    token, an unknown or forged one, a session without a raw token."""
    raw = session.get(field_name)
    if not isinstance(posted, str) or not isinstance(raw, str):
        return False
    remembered = _signed_tokens.get((secret, raw))
    # A forged token may hold any character: a 400 from Flask-WTF, not an error here.
    return remembered is not None and same_text(posted, remembered)


class RememberedSignature(_FlaskFormCSRF):
    """Flask-WTF's form CSRF, with the signed token from :func:`signed_form_token`."""

    def generate_csrf_token(self, _field: Any) -> str:
        return signed_form_token(self.meta.csrf_secret, self.meta.csrf_field_name,
                                 self.meta.csrf_time_limit)


class ConfigOnce:
    """A form ``Meta`` mixin: Flask-WTF's settings (CSRF on, its secret, field name and
    time limit; the translations) read as Flask-WTF reads them, from the app's config
    found once per form: Flask-WTF's own go through ``current_app`` for each (issue 11).
    ``tests/perf/test_form_prototypes.py`` compares them with Flask-WTF's."""

    @cached_property
    def _app_config(self) -> Any:
        return current_app.config

    @cached_property
    def csrf(self) -> Any:
        return self._app_config.get("WTF_CSRF_ENABLED", True)

    @cached_property
    def csrf_secret(self) -> Any:
        config = self._app_config
        return config.get("WTF_CSRF_SECRET_KEY", config.get("SECRET_KEY"))  # app.secret_key

    @cached_property
    def csrf_field_name(self) -> Any:
        return self._app_config.get("WTF_CSRF_FIELD_NAME", "csrf_token")

    @cached_property
    def csrf_time_limit(self) -> Any:
        return self._app_config.get("WTF_CSRF_TIME_LIMIT", 3600)

    def get_translations(self, form: Any) -> Any:
        if not self._app_config.get("WTF_I18N_ENABLED", True):
            return DefaultMeta.get_translations(self, form)
        return translations


class ClefForm(FlaskForm):
    """The forms of Clef's own screens: Flask-WTF's, with fields copied from their
    class's prototype (:mod:`idp.form_prototypes`), inputs rendered by
    :class:`QuickInputs` and the signed CSRF token remembered per session."""

    class Meta(form_prototypes.KeepsBoundFields, QuickInputs, ConfigOnce):
        csrf_class = RememberedSignature

    def __init__(self, formdata: Any = _Auto, **kwargs: Any) -> None:
        """As ``FlaskForm(formdata, **kwargs)``. A form made the ordinary way (the
        request's data, nothing else) binds its fields from the prototype, then
        processes the data as WTForms does; the first of its class is bound by WTForms
        and kept as the prototype."""
        if formdata is _Auto and not kwargs:
            if form_prototypes.build(self):
                self.process(formdata)
                return
            super().__init__(formdata)
            form_prototypes.keep_noted(self)
            return
        super().__init__(formdata, **kwargs)


class FormToken:
    """What a page shows of a form with no fields (a button's: sign out, stay signed in,
    send a new code, consent): its CSRF input, the same HTML as :class:`PostOnlyForm`'s,
    made only when the template asks for it. Building a WTForms form costs ~130 Python
    calls, and a page of a signed-in person had two or three (issue 11). The POST is
    still checked by :class:`PostOnlyForm` (or ``validate_csrf``)."""

    @property
    def csrf_token(self) -> Markup:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        config = app.config
        if not config.get("WTF_CSRF_ENABLED", True):
            return Markup("")  # as a form without its CSRF field renders in a template
        name = config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
        token = signed_form_token(config.get("WTF_CSRF_SECRET_KEY", app.secret_key),
                                  name, config.get("WTF_CSRF_TIME_LIMIT", 3600))
        shown = escape(name)
        return Markup(  # noqa: S704  (both values escaped)
            f'<input id="{shown}" name="{shown}" type="hidden" value="{escape(token)}">')


FORM_TOKEN = FormToken()  # it keeps nothing: one serves every page


class AsciiCode:
    """A typed code may hold only ASCII: Unicode digits (Arabic-Indic, full-width, ...)
    look like a code but are never one. Refused as a form error (a 400 that counts no
    attempt and changes nothing), before any service compares it."""

    def __init__(self, message: object = DIGITS_ONLY) -> None:
        self.message = message

    def __call__(self, _form: object, field: Field) -> None:
        if not str(field.data or "").isascii():
            raise ValidationError(str(self.message))


class SignInForm(ClefForm):
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


class RegisterForm(ClefForm):
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


class EmailCodeForm(ClefForm):
    code = StringField(
        _l("Confirmation code"),
        validators=[DataRequired(message=REQUIRED), Length(max=20), AsciiCode()],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class PostOnlyForm(ClefForm):
    """A form with no fields: the CSRF token of a button (sign out, stay signed in)."""
