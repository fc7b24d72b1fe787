"""Setting up the second factor (J8) and setting it up again (J9): choose a method,
prove it with a first code, receive recovery codes once.

Who may be here: a session past the password step whose account has no factor yet
(right after registration, or an account that never finished), or a signed-in
session whose sign-in is fresh (S14). A pending session of an account that *has* a
factor is sent to the challenge: setting up a new factor must never stand in for
passing the current one (S10).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from idp import audit
from idp.email_codes import CodeError, ResendTooSoon
from idp.forms import PostOnlyForm
from idp.messages import email_code_error, mail_not_sent_message, resend_wait_message
from idp.models import Account
from idp.ratelimit import configured, limiter
from idp.runtime import db, services
from idp.sessions import FULL, PASSWORD
from idp.views.common import now, where
from idp.web_session import current_session, fresh_sign_in_required
from mfa import events
from mfa.factors import AMR
from mfa.forms import ChooseMethodForm, CodeForm
from mfa.mail_codes import SET_UP, send_code
from mfa.models import EMAIL, TOTP
from mfa.runtime import mfa_services
from mfa.totp import grouped, new_secret
from mfa.views.blueprint import bp
from mfa.views.common import (
    PENDING_TOTP_KEY,
    complete_sign_in,
    current_account,
    notify,
    stash_codes,
    wrong_code_message,
)

F = TypeVar("F", bound=Callable[..., Any])


def enrolment_step(view: F) -> F:
    fresh_view = fresh_sign_in_required(view)

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_session().level == PASSWORD:
            account = current_account()
            if mfa_services().factors.get(db(), account.id) is not None:
                return redirect(url_for("mfa.challenge"), code=303)
            return view(*args, **kwargs)
        return fresh_view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def _changing() -> bool:
    """Setting up again (J9) rather than for the first time (J8)."""
    return current_session().level == FULL


@bp.route("/setup", methods=["GET", "POST"])
@enrolment_step
def setup() -> ResponseReturnValue:
    account = current_account()
    form = ChooseMethodForm()
    email_ready = account.has_confirmed_email
    if request.method == "POST" and form.validate_on_submit():
        if form.method.data == TOTP:
            return redirect(url_for("mfa.setup_app"), code=303)
        if email_ready:
            return redirect(url_for("mfa.setup_email"), code=303)
        form.method.errors = [_("Email codes need a confirmed recovery email. Choose the app.")]
    status = 400 if request.method == "POST" else 200
    return render_template("mfa/setup.html", form=form, email_ready=email_ready,
                           changing=_changing(), account=account), status


@bp.route("/setup/app", methods=["GET", "POST"])
@enrolment_step
@limiter.limit(configured("second_factor_per_ip"), methods=["POST"], scope="ip.second_factor")
def setup_app() -> ResponseReturnValue:
    """TOTP: the secret is made once per set-up and kept sealed in the session until
    the first code proves the app has it (S11)."""
    account = current_account()
    m = mfa_services()
    sealed = session.get(PENDING_TOTP_KEY)
    if isinstance(sealed, str):
        secret = m.box.open(sealed)
    else:
        secret = new_secret()
        session[PENDING_TOTP_KEY] = m.box.seal(secret)
    form = CodeForm()
    if request.method == "POST" and form.validate_on_submit():
        step = m.factors.confirm_totp(secret, form.code.data or "", now())
        if step is not None:
            m.factors.use_totp(db(), account.id, secret, step, now())
            session.pop(PENDING_TOTP_KEY, None)
            return _finish(account, TOTP)
        _record_setup_failure(account, TOTP)
        form.code.errors = [
            _("Enter the code your app shows now.") if not (form.code.data or "").strip()
            else wrong_code_message()
            + " " + _("If it keeps failing, check that your phone's clock is set automatically.")
        ]
    issuer = services().settings.service.name
    totp = m.factors.totp(secret)
    status = 400 if request.method == "POST" else 200
    return render_template(
        "mfa/setup_app.html", form=form, changing=_changing(),
        qr_svg=totp.qr_svg(account.username, issuer), secret=grouped(secret),
        uri=totp.provisioning_uri(account.username, issuer),
    ), status


@bp.route("/setup/email", methods=["GET", "POST"])
@enrolment_step
@limiter.limit(configured("second_factor_per_ip"), methods=["POST"], scope="ip.second_factor")
def setup_email() -> ResponseReturnValue:
    """Email codes (D2: offered, weaker than an app): only to a confirmed address, and
    proved by a first code sent for this set-up."""
    account = current_account()
    record = current_session().record
    if not account.has_confirmed_email or record is None:
        return redirect(url_for("mfa.setup"), code=303)
    form = CodeForm()
    notice = None
    if request.method == "GET":
        if services().email_codes.pending_binding(db(), account.id, SET_UP) != record.id:
            notice = _send(account, record.id)
        return _email_page(account, form, notice)
    if not form.validate_on_submit():
        return _email_page(account, form, status=400)
    try:
        services().email_codes.verify(db(), account.id, SET_UP, form.code.data or "", now(),
                                      binding=record.id)
    except CodeError as refused:
        error = email_code_error(refused)
    else:
        mfa_services().factors.use_email(db(), account.id, now())
        return _finish(account, EMAIL)
    _record_setup_failure(account, EMAIL)  # and the wrong try counts (S16)
    form.code.errors = [error]
    return _email_page(account, form, status=400)


@bp.post("/setup/email/resend")
@enrolment_step
@limiter.limit(configured("email_code_per_ip"), scope="ip.email_code")
def setup_email_resend() -> ResponseReturnValue:
    if not PostOnlyForm().validate_on_submit():
        abort(400)
    account = current_account()
    record = current_session().record
    if not account.has_confirmed_email or record is None:
        return redirect(url_for("mfa.setup"), code=303)
    notice = _send(account, record.id) or _("A new code is on its way. Earlier codes no longer work.")
    return _email_page(account, CodeForm(), notice)


def _record_setup_failure(account: Account, kind: str) -> None:
    """S28: a wrong first code while setting a factor up is an authentication event."""
    audit.record(db(), now(), events.SETUP_FAILURE, actor=account.username,
                 account_id=account.id, where=where(), method=kind)
    db().commit()


def _send(account: Account, binding: str) -> str | None:
    try:
        sent = send_code(account, SET_UP, binding)
    except ResendTooSoon as wait:
        return resend_wait_message(wait)
    return None if sent else mail_not_sent_message()


def _email_page(account: Account, form: CodeForm, notice: str | None = None,
                status: int = 200) -> ResponseReturnValue:
    return render_template("mfa/setup_email.html", form=form, account=account, notice=notice,
                           changing=_changing(), resend=PostOnlyForm()), status


def _finish(account: Account, kind: str) -> ResponseReturnValue:
    """The new factor is proved: a new set of recovery codes replaces the old (S13),
    and the person is signed in (J8) or told by email of the change (J9, S14)."""
    codes = mfa_services().recovery_codes.replace(db(), account.id, now())
    changing = _changing()
    audit.record(db(), now(), events.CHANGED if changing else events.ENROLLED,
                 actor=account.username, account_id=account.id, where=where(), method=kind)
    audit.record(db(), now(), events.RECOVERY_CODES_REPLACED, actor=account.username,
                 account_id=account.id, where=where())
    stash_codes(codes, "change" if changing else "enrol")
    if changing:
        notify(account, "second_factor_changed", method=kind)
        db().commit()
    else:
        complete_sign_in(account, AMR[kind], kind)
    return redirect(url_for("mfa.recovery_codes"), code=303)
