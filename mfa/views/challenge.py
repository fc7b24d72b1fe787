"""The second step of every sign-in (S10): a code from the app or an email, or one
recovery code when the method is lost (J10), and what to do without either (J11)."""

from __future__ import annotations

from collections.abc import Callable

from flask import abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from idp.email_codes import ResendTooSoon
from idp.forms import FORM_TOKEN, PostOnlyForm
from idp.messages import email_code_error, locked_message, mail_not_sent_message, resend_wait_message
from idp.models import Account
from idp.ratelimit import configured, limiter, post_limit
from idp.runtime import db, services
from idp.sessions import FULL
from idp.views.common import after_sign_in_target, now
from idp.web_session import (
    current_session,
    kept_as_now,
    passed_second_factor,
    password_step_required,
    store_now,
)
from mfa.checkers import WrongCode
from mfa.forms import CodeForm, RecoveryCodeForm
from mfa.mail_codes import SIGN_IN, send_code
from mfa.models import EMAIL, TOTP, SecondFactor
from mfa.runtime import mfa_services
from mfa.service import SecondStepLocked
from mfa.views.blueprint import bp
from mfa.views.common import (
    attempt,
    current_account,
    notify,
    signed_in_target,
    wrong_code_message,
)

# An empty field: asked for by what the factor shows (an app, a mail).
BLANK_CODE = {TOTP: _l("Enter the code your app shows now."),
              EMAIL: _l("Enter the code we emailed you.")}


def _page(factor: SecondFactor, form: CodeForm, status: int = 200,
          error: str | None = None, notice: str | None = None,
          has_keys: bool | None = None) -> ResponseReturnValue:
    if has_keys is None:
        has_keys = _has_keys(factor.account_id)
    return render_template("mfa/challenge.html", factor=factor, form=form, error=error,
                           notice=notice, resend=FORM_TOKEN, email=EMAIL,
                           has_keys=has_keys), status


def _factor_of(account: Account) -> SecondFactor | None:
    return mfa_services().factors.get(db(), account.id)


def _has_keys(account_id: int) -> bool:
    return mfa_services().security_keys.count(db(), account_id) > 0


@bp.route("/challenge", methods=["GET", "POST"])
@password_step_required
@post_limit(configured("second_factor_per_ip"), scope="ip.second_factor")
def challenge() -> ResponseReturnValue:
    if current_session().level == FULL:
        return redirect(after_sign_in_target(), code=303)
    account = current_account()
    # The request and the slice's services, each looked up once (issue 11).
    current = request._get_current_object()  # type: ignore[attr-defined]
    mfa = mfa_services()
    # The factor and the keys in one read (issue 11). A code posted for an existing
    # factor is checked whatever keys there are; the count only shapes the page.
    factor, key_count = mfa.factors.get_challenge(db(), account.id)
    has_keys = key_count > 0
    if factor is None and not has_keys:
        # J8: an account that never finished setting up does it now, before anything else.
        return redirect(url_for("mfa.setup"), code=303)
    if factor is None or (has_keys and current.args.get("use") != "code"
                          and current.method == "GET"):
        # D3: the strongest factor first; "Use another method" comes back with use=code.
        return redirect(url_for("mfa.challenge_key"), code=303)
    form = CodeForm()
    if current.method == "GET":
        mailed = mfa.second_step.mails_code(factor)
        notice = _send_sign_in_code(account) if mailed else None
        return _page(factor, form, notice=notice, has_keys=has_keys)
    if not form.validate_on_submit():
        return _page(factor, form, 400, has_keys=has_keys)
    targets: list[str] = []
    kept: list[Callable[[], None]] = []

    def signed_in(methods: list[str]) -> None:
        kept.append(kept_as_now())  # PostgreSQL signs in before the code's guard
        passed_second_factor(methods)
        targets.append(signed_in_target())  # ``next`` consumed in the step's own commit
        store_now()

    def taken_back() -> None:  # the guard refused: as before the sign-in (mfa.service)
        while kept:
            kept.pop()()
        targets.clear()

    try:
        mfa.second_step.verify_factor(db(), attempt(account), factor,
                                      form.code.data or "", now(), signed_in,
                                      taken_back)
    except SecondStepLocked as locked:
        return _page(factor, form, 429, error=locked_message(locked.retry_after),
                     has_keys=has_keys)
    except WrongCode as wrong:
        return _page(factor, form, 401, error=_wrong_code_error(factor, wrong),
                     has_keys=has_keys)
    return redirect(targets[0], code=303)


def _wrong_code_error(factor: SecondFactor, wrong: WrongCode) -> str:
    """What the page says: an empty field is asked for by what the factor shows; an
    emailed code's refusal says why (S16)."""
    if wrong.blank:
        return str(BLANK_CODE.get(factor.kind, BLANK_CODE[TOTP]))
    if wrong.cause is not None:
        return email_code_error(wrong.cause)
    return wrong_code_message()


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
    if factor is None or not mfa_services().second_step.mails_code(factor) or record is None:
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
    try:
        mfa_services().second_step.verify_recovery_code(
            db(), attempt(account), form.code.data or "", now(), passed_second_factor,
            notify=lambda remaining: notify(account, "recovery_code_used", remaining=remaining))
    except SecondStepLocked as locked:
        error = locked_message(locked.retry_after)
        return render_template("mfa/recover.html", form=form, error=error), 429
    except WrongCode:
        error = _("That recovery code is not correct, or it was already used.")
        return render_template("mfa/recover.html", form=form, error=error), 401
    return redirect(url_for("mfa.done"), code=303)


@bp.get("/lost")
@password_step_required
def lost() -> str:
    """J11: without the method and the codes nobody can get this credential back,
    the help desk included; the way on is a new credential."""
    return render_template("mfa/lost.html", sign_out=PostOnlyForm())
