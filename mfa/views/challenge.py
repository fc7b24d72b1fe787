"""The second step of every sign-in (S10): a code from the app or an email, or one
recovery code when the method is lost (J10), and what to do without either (J11)."""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from idp import audit
from idp.email_codes import CodeError, ResendTooSoon
from idp.forms import PostOnlyForm
from idp.models import Account
from idp.ratelimit import configured, limiter
from idp.runtime import db, services
from idp.sessions import FULL
from idp.views.common import (
    after_sign_in_target,
    email_code_error,
    mail_not_sent_message,
    now,
    resend_wait_message,
    where,
)
from idp.web_session import current_session, password_step_required
from mfa import bp, events
from mfa.factors import AMR, AMR_RECOVERY_CODE
from mfa.forms import CodeForm, RecoveryCodeForm
from mfa.mail_codes import SIGN_IN, send_code
from mfa.models import EMAIL, TOTP, SecondFactor
from mfa.runtime import mfa_services
from mfa.views.common import (
    claim_attempt,
    complete_sign_in,
    current_account,
    notify,
    record_failure,
    signed_in_target,
    wrong_code_message,
)


def _page(factor: SecondFactor, form: CodeForm, status: int = 200,
          error: str | None = None, notice: str | None = None) -> ResponseReturnValue:
    has_keys = mfa_services().security_keys.count(db(), factor.account_id) > 0
    return render_template("mfa/challenge.html", factor=factor, form=form, error=error,
                           notice=notice, resend=PostOnlyForm(), email=EMAIL,
                           has_keys=has_keys), status


def _factor_of(account: Account) -> SecondFactor | None:
    return mfa_services().factors.of(db(), account.id)


@bp.route("/challenge", methods=["GET", "POST"])
@password_step_required
@limiter.limit(configured("second_factor_per_ip"), methods=["POST"], scope="ip.second_factor")
def challenge() -> ResponseReturnValue:
    if current_session().level == FULL:
        return redirect(after_sign_in_target(), code=303)
    account = current_account()
    factor = _factor_of(account)
    has_keys = mfa_services().security_keys.count(db(), account.id) > 0
    if factor is None and not has_keys:
        # J8: an account that never finished setting up does it now, before anything else.
        return redirect(url_for("mfa.setup"), code=303)
    if factor is None or (has_keys and request.args.get("use") != "code"
                          and request.method == "GET"):
        # D3: the strongest factor first; "Use another method" comes back with use=code.
        return redirect(url_for("mfa.challenge_key"), code=303)
    form = CodeForm()
    if request.method == "GET":
        notice = _send_sign_in_code(account) if factor.kind == EMAIL else None
        return _page(factor, form, notice=notice)
    if not form.validate_on_submit():
        return _page(factor, form, 400)
    locked = claim_attempt(account)
    if locked:
        return _page(factor, form, 429, error=locked)
    typed = form.code.data or ""
    if factor.kind == TOTP:
        if mfa_services().factors.check_totp(db(), factor, typed, now()):
            complete_sign_in(account, AMR[TOTP], TOTP)
            return redirect(signed_in_target(), code=303)
        record_failure(account, method=TOTP)
        error = _("Enter the code your app shows now.") if not typed.strip() else wrong_code_message()
        return _page(factor, form, 401, error=error)
    return _check_email_code(account, factor, form, typed)


def _check_email_code(account: Account, factor: SecondFactor, form: CodeForm,
                      typed: str) -> ResponseReturnValue:
    """S12: the code must be the live one, sent for this very sign-in attempt."""
    record = current_session().record
    if record is None:
        abort(403)
    try:
        services().email_codes.verify(db(), account.id, SIGN_IN, typed, now(), binding=record.id)
    except CodeError as refused:
        error = email_code_error(refused)
    else:
        complete_sign_in(account, AMR[EMAIL], EMAIL)
        return redirect(signed_in_target(), code=303)
    if not typed.strip():
        error = _("Enter the code we emailed you.")
    record_failure(account, method=EMAIL)
    return _page(factor, form, 401, error=error)


def _send_sign_in_code(account: Account) -> str | None:
    """Email a code bound to this sign-in attempt, unless one already is (a reload
    does not send another). Returns a notice for the page when none could leave."""
    record = current_session().record
    if record is None:
        abort(403)
    if services().email_codes.pending_binding(db(), account.id, SIGN_IN) == record.id:
        return None
    try:
        sent = send_code(account, SIGN_IN, record.id)
    except ResendTooSoon as wait:
        return resend_wait_message(wait)
    return None if sent else mail_not_sent_message()


@bp.post("/challenge/resend")
@password_step_required
@limiter.limit(configured("email_code_per_ip"), scope="ip.email_code")
def resend_sign_in_code() -> ResponseReturnValue:
    """S12: a new code kills the previous one; asking too often is refused."""
    if not PostOnlyForm().validate_on_submit():
        abort(400)
    account = current_account()
    factor = _factor_of(account)
    record = current_session().record
    if factor is None or factor.kind != EMAIL or record is None:
        return redirect(url_for("mfa.challenge"), code=303)
    try:
        sent = send_code(account, SIGN_IN, record.id)
    except ResendTooSoon as wait:
        return _page(factor, CodeForm(), 429, error=resend_wait_message(wait))
    notice = (_("A new code is on its way. Earlier codes no longer work.") if sent else
              mail_not_sent_message())
    return _page(factor, CodeForm(), notice=notice)


@bp.route("/recover", methods=["GET", "POST"])
@password_step_required
@limiter.limit(configured("second_factor_per_ip"), methods=["POST"], scope="ip.second_factor")
def recover() -> ResponseReturnValue:
    """J10 *Récupérer le compte*: one recovery code instead of the lost method. The
    sign-in says so in amr (D2), and the success page urges a new set-up."""
    if current_session().level == FULL:
        return redirect(url_for("mfa.done"), code=303)
    account = current_account()
    if not mfa_services().factors.has_any(db(), account.id):
        return redirect(url_for("mfa.setup"), code=303)
    form = RecoveryCodeForm()
    if request.method == "GET":
        return render_template("mfa/recover.html", form=form)
    if not form.validate_on_submit():
        return render_template("mfa/recover.html", form=form), 400
    locked = claim_attempt(account)
    if locked:
        return render_template("mfa/recover.html", form=form, error=locked), 429
    codes = mfa_services().recovery_codes
    if not codes.burn(db(), account.id, form.code.data or "", now()):
        record_failure(account, events.RECOVERY_CODE_FAILURE)
        error = _("That recovery code is not correct, or it was already used.")
        return render_template("mfa/recover.html", form=form, error=error), 401
    remaining = codes.remaining(db(), account.id)
    audit.record(db(), now(), events.RECOVERY_CODE_USED, actor=account.username,
                 account_id=account.id, where=where(), remaining=remaining)
    notify(account, "recovery_code_used", remaining=remaining)
    complete_sign_in(account, AMR_RECOVERY_CODE, "recovery_code")
    return redirect(url_for("mfa.done"), code=303)


@bp.get("/lost")
@password_step_required
def lost() -> str:
    """J11: without the method and the codes nobody can get this credential back,
    the help desk included; the way on is a new credential."""
    return render_template("mfa/lost.html", sign_out=PostOnlyForm())
