"""The second-factor forms: what fields exist and their labels."""

from __future__ import annotations

from wtforms import BooleanField, HiddenField, RadioField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from idp.forms import AsciiCode, ClefForm
from idp.i18n import lazy_text as _l
from mfa.models import EMAIL, SECURITY_KEY, TOTP
from mfa.security_keys import NAME_MAX_LENGTH

LETTERS_AND_DIGITS = _l("Type the recovery code with the letters A to Z and the digits 0 to 9.")


class ChooseMethodForm(ClefForm):
    method = RadioField(
        _l("How do you want to get your codes?"),
        # The page writes each choice's label and explanation itself (mfa/setup.html).
        choices=[SECURITY_KEY, TOTP, EMAIL],
        validators=[InputRequired(message=_l("Choose one."))],
    )


class CodeForm(ClefForm):
    """A six-digit code from an app or an email. Not DataRequired: an empty code is
    still an attempt and is counted (S7)."""

    code = StringField(
        _l("Code"),
        validators=[Length(max=20), AsciiCode()],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric",
                   "autocapitalize": "off", "spellcheck": "false"},
    )


class RecoveryCodeForm(ClefForm):
    code = StringField(
        _l("Recovery code"),
        validators=[Length(max=40), AsciiCode(LETTERS_AND_DIGITS)],
        render_kw={"autocomplete": "off", "autocapitalize": "characters",
                   "spellcheck": "false"},
    )


class SavedCodesForm(ClefForm):
    saved = BooleanField(
        _l("I have saved my recovery codes in a safe place"),
        validators=[DataRequired(message=_l("Confirm that you have saved your codes."))],
    )



# The browser's answer to a WebAuthn ceremony (JSON): a few kilobytes at most.
CREDENTIAL_MAX_LENGTH = 16000


class SecurityKeyForm(ClefForm):
    """Registering a key (D3): the name the person gives it, and the browser's answer."""

    name = StringField(
        _l("Name of the key"),
        validators=[DataRequired(message=_l("Give the key a name.")),
                    Length(max=NAME_MAX_LENGTH)],
        render_kw={"autocomplete": "off", "maxlength": str(NAME_MAX_LENGTH)},
    )
    credential = HiddenField(validators=[Length(max=CREDENTIAL_MAX_LENGTH)])


class SecurityKeySignInForm(ClefForm):
    """Signing in with a key (D3): only the browser's answer. Not DataRequired: an empty
    answer is still an attempt and is counted (S7)."""

    credential = HiddenField(validators=[Length(max=CREDENTIAL_MAX_LENGTH)])
