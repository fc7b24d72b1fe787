"""Registration (J2, first half): username and password, an optional recovery email
confirmed by an emailed code, then the hand-off to the security questions and the
second-factor set-up (J8)."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l

from idp import audit
from idp.accounts import RegistrationRefused
from idp.email_codes import CodeError, ResendTooSoon
from idp.forms import EmailCodeForm, PostOnlyForm, RegisterForm
from idp.i18n import select_locale
from idp.messages import PASSWORD_MESSAGES, email_code_error, resend_wait_message
from idp.models import Account
from idp.password_policy import PasswordProblem
from idp.ratelimit import configured, limiter
from idp.runtime import db, services
from idp.usernames import UsernameProblem
from idp.views.common import now, send_code, session_account, where
from idp.web_session import passed_password, password_step_required

bp = Blueprint("register", __name__)

CONFIRM_EMAIL = "confirm_email"
# J2: after the username, password and email come the security questions (recovery
# slice), which hand over to the second-factor set-up (mfa.setup).
AFTER_DETAILS = "recovery.setup_questions"

USERNAME_MESSAGES = {
    UsernameProblem.TOO_SHORT: _l("Use at least %(min)d characters."),
    UsernameProblem.TOO_LONG: _l("Use at most %(max)d characters."),
    UsernameProblem.TOO_LONG_FOLDED: _l(
        "This username is too long once letters such as ß are spelled out (ß counts as ss). "
        "Choose a shorter one."
    ),
    UsernameProblem.CHARACTERS: _l(
        "Use letters and digits; dots, hyphens and underscores may appear between them."
    ),
}
USERNAME_TAKEN = _l("This username is not available. Choose another.")


def _show_refusal(form: RegisterForm, refused: RegistrationRefused) -> None:
    """Put each reason under its field; a field the form already flagged (empty) keeps
    that one message."""
    settings = services().settings
    limits = {"min": settings.username.min_length, "max": settings.username.max_length}
    name_errors = []
    if refused.username is not None:
        name_errors = [str(USERNAME_MESSAGES[refused.username]) % limits]
    elif refused.username_taken:
        name_errors = [str(USERNAME_TAKEN)]
    limits = {"min": settings.password.min_length, "max": settings.password.max_length}
    mismatch = [p for p in refused.password if p is PasswordProblem.MISMATCH]
    others = [p for p in refused.password if p is not PasswordProblem.MISMATCH]
    for field, errors in (
        (form.username, name_errors),
        (form.password, [str(PASSWORD_MESSAGES[p]) % limits for p in others]),
        (form.confirm, [str(PASSWORD_MESSAGES[p]) for p in mismatch]),
    ):
        if not field.errors:
            field.errors = errors


def _register_page(form: RegisterForm) -> str:
    settings = services().settings
    return render_template(
        "register/register.html", form=form, password_min=settings.password.min_length,
        username_limits=(settings.username.min_length, settings.username.max_length),
    )


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(configured("register_per_ip"), methods=["POST"], scope="ip.register")
def register() -> ResponseReturnValue:
    form = RegisterForm()
    if request.method == "GET":
        return _register_page(form)
    if not form.validate_on_submit():
        _show_refusal(form, services().accounts.registration_problems(
            form.username.data or "", form.password.data or "", form.confirm.data or ""))
        return _register_page(form), 400
    try:
        account = services().accounts.register(
            db(), now(),
            username=form.username.data or "",
            password=form.password.data or "",
            confirm=form.confirm.data or "",
            email=(form.email.data or "").strip() or None,
            locale=select_locale(),
            where=where(),
        )
    except RegistrationRefused as refused:
        _show_refusal(form, refused)
        return _register_page(form), 400
    # Choosing the password is the first factor of this session (S20: new token).
    passed_password(account.id)
    if account.email:
        # One transaction: the account, its session, the code and its mail (faults).
        sent = _send_confirmation(account, account.email)
        return _after_send(sent, resent=False)
    db().commit()
    return redirect(url_for(AFTER_DETAILS), code=303)


def _pending_account() -> Account:
    account = session_account()
    if account is None:
        abort(403)
    return account


def _send_confirmation(account: Account, address: str) -> bool:
    """A fresh code to the account's unconfirmed address (S16)."""
    return send_code(account, CONFIRM_EMAIL, address, address)


@bp.route("/register/email", methods=["GET", "POST"])
@password_step_required
@limiter.limit(configured("email_code_per_ip"), methods=["POST"], scope="ip.email_code")
def confirm_email() -> ResponseReturnValue:
    account = _pending_account()
    form = EmailCodeForm()
    if account.email is None or account.has_confirmed_email:
        return redirect(url_for(AFTER_DETAILS), code=303)
    if request.method == "GET":
        return render_template("register/confirm_email.html", form=form, account=account,
                               resend=PostOnlyForm())
    if not form.validate_on_submit():
        return render_template("register/confirm_email.html", form=form, account=account,
                               resend=PostOnlyForm()), 400
    try:
        services().email_codes.confirm_address(
            db(), account, CONFIRM_EMAIL, form.code.data or "", now(), where(),
            tag=audit.EMAIL_CONFIRMED, expected=account.email)
    except CodeError as refused:
        form.code.errors = [email_code_error(refused)]
        return render_template("register/confirm_email.html", form=form, account=account,
                               resend=PostOnlyForm()), 400
    return redirect(url_for(AFTER_DETAILS), code=303)


@bp.post("/register/email/resend")
@password_step_required
@limiter.limit(configured("email_code_per_ip"), scope="ip.email_code")
def resend_code() -> ResponseReturnValue:
    if not PostOnlyForm().validate_on_submit():
        abort(400)
    account = _pending_account()
    if account.email is None or account.has_confirmed_email:
        return redirect(url_for(AFTER_DETAILS), code=303)
    try:
        sent = _send_confirmation(account, account.email)
    except ResendTooSoon as wait:
        form = EmailCodeForm()
        form.code.errors = [resend_wait_message(wait)]
        return render_template("register/confirm_email.html", form=form, account=account,
                               resend=PostOnlyForm()), 429
    return _after_send(sent, resent=True)


def _after_send(sent: bool, resent: bool) -> ResponseReturnValue:
    """To the code page, saying a new code left or that the mail could not leave."""
    if not sent:
        return redirect(url_for("register.confirm_email", failed=1), code=303)
    if resent:
        return redirect(url_for("register.confirm_email", sent=1), code=303)
    return redirect(url_for("register.confirm_email"), code=303)
