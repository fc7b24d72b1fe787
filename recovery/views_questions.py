"""The recovery information (J2, S14): the security questions set at registration, and
later changes to them or to the recovery email, which need a fresh sign-in with both
factors and notify the recovery email."""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from idp import audit
from idp.email_codes import CodeError, ResendTooSoon
from idp.forms import EmailCodeForm
from idp.messages import email_code_error, resend_wait_message
from idp.models import Account
from idp.ratelimit import configured, limiter
from idp.runtime import db, services
from idp.views.common import now, send_code, session_account, where
from idp.web_session import fresh_sign_in_required, login_required, password_step_required
from mfa.models import SecondFactor
from recovery.answers import Answers, Hints, hint_gives_away_answer, save_questions
from recovery.blueprint import bp
from recovery.forms import QuestionsForm, RecoveryEmailForm
from recovery.mail import CONFIRM_ADDRESS, EMAIL_CHANGED, QUESTIONS_CHANGED, stage
from recovery.mail import notify as notify_account
from recovery.models import RecoveryQuestions

EMAIL_CODE_PURPOSE = "recovery_email"


def _account() -> Account:
    account = session_account()
    if account is None:
        abort(403)
    return account


def _hint_problems(form: QuestionsForm) -> bool:
    """A hint shown to anyone who types the username must not contain its answer."""
    found = False
    for hint, answer in ((form.question, form.answer), (form.person_hint, form.person)):
        if hint.data and answer.data and hint_gives_away_answer(hint.data, answer.data):
            hint.errors = [*hint.errors, _("The hint must not contain the answer.")]
            found = True
    return found


def _valid(form: QuestionsForm) -> bool:
    """Every field's shape, then the hints: every reason is shown at once."""
    shaped = form.validate_on_submit()
    given_away = _hint_problems(form)
    return shaped and not given_away


def _save(form: QuestionsForm, account: Account, *, notify: bool = False) -> None:
    """Save the questions and commit; ``notify``: with the notification to the recovery
    email staged in the same transaction (S14)."""
    memorable = form.memorable_date.data
    save_questions(
        db(), services().hasher, account.id,
        Hints(form.question.data or "", form.person_hint.data or "", form.date_hint.data or ""),
        Answers(form.answer.data or "", form.person.data or "",
                memorable.isoformat() if memorable else ""),
        now(),
    )
    audit.record(db(), now(), audit.RECOVERY_QUESTIONS_SET, actor=account.username,
                 account_id=account.id, where=where())
    if notify:
        notify_account(account, QUESTIONS_CHANGED)
    db().commit()


def _questions_page(form: QuestionsForm, changing: bool, status: int = 200) -> ResponseReturnValue:
    return render_template("recovery/questions.html", form=form, changing=changing), status


@bp.route("/register/questions", methods=["GET", "POST"])
@password_step_required
def setup_questions() -> ResponseReturnValue:
    """J2: the security questions, right after the username, password and email and
    before the second factor. Only during registration (no second factor yet) and only
    once: someone who holds just the password of a registered account must not set
    questions and reset it with them; later changes need a fresh sign-in (S14)."""
    account = _account()
    if (db().get(RecoveryQuestions, account.id) is not None
            or db().get(SecondFactor, account.id) is not None):
        return redirect(url_for("mfa.setup"), code=303)
    form = QuestionsForm()
    if request.method == "GET":
        return _questions_page(form, changing=False)
    if not _valid(form):
        return _questions_page(form, changing=False, status=400)
    _save(form, account)
    return redirect(url_for("mfa.setup"), code=303)


@bp.get("/account/recovery")
@login_required
def settings() -> ResponseReturnValue:
    account = _account()
    has_questions = db().get(RecoveryQuestions, account.id) is not None
    return render_template("recovery/settings.html", account=account,
                           has_questions=has_questions, changed=request.args.get("changed"))


@bp.route("/account/recovery/questions", methods=["GET", "POST"])
@fresh_sign_in_required
def change_questions() -> ResponseReturnValue:
    """S14: new questions after a fresh sign-in; the recovery email is told."""
    account = _account()
    form = QuestionsForm()
    if request.method == "GET":
        return _questions_page(form, changing=True)
    if not _valid(form):
        return _questions_page(form, changing=True, status=400)
    _save(form, account, notify=True)
    return redirect(url_for("recovery.settings", changed="questions"), code=303)


@bp.route("/account/recovery/email", methods=["GET", "POST"])
@fresh_sign_in_required
@limiter.limit(configured("email_code_per_ip"), methods=["POST"], scope="ip.email_code")
def change_email() -> ResponseReturnValue:
    """S14: a new recovery email, confirmed by a code sent to it before it replaces the
    old one."""
    account = _account()
    form = RecoveryEmailForm()
    if request.method == "GET":
        return render_template("recovery/change_email.html", form=form)
    if not form.validate_on_submit():
        return render_template("recovery/change_email.html", form=form), 400
    address = (form.email.data or "").strip()
    try:
        sent = send_code(account, EMAIL_CODE_PURPOSE, address, address, message=CONFIRM_ADDRESS)
    except ResendTooSoon as wait:
        form.email.errors = [resend_wait_message(wait)]
        return render_template("recovery/change_email.html", form=form), 429
    return redirect(url_for("recovery.confirm_new_email", failed=None if sent else 1), code=303)


@bp.route("/account/recovery/email/confirm", methods=["GET", "POST"])
@fresh_sign_in_required
@limiter.limit(configured("email_code_per_ip"), methods=["POST"], scope="ip.email_code")
def confirm_new_email() -> ResponseReturnValue:
    account = _account()
    pending = services().email_codes.pending_binding(db(), account.id, EMAIL_CODE_PURPOSE)
    if pending is None and request.method == "GET":
        return redirect(url_for("recovery.change_email"), code=303)
    form = EmailCodeForm()
    page = "recovery/confirm_new_email.html"
    if request.method == "GET":
        return render_template(page, form=form, address=pending)
    if not form.validate_on_submit():
        return render_template(page, form=form, address=pending), 400
    def notify(previous: str | None, address: str) -> None:
        for to in {previous, address} - {None}:
            stage(EMAIL_CHANGED, account.locale, str(to), account_id=account.id,
                  username=account.username, new_address=address)

    try:
        services().email_codes.confirm_address(
            db(), account, EMAIL_CODE_PURPOSE, form.code.data or "", now(), where(),
            tag=audit.RECOVERY_EMAIL_CHANGED, confirmed=notify)
    except CodeError as error:
        form.code.errors = [email_code_error(error)]
        return render_template(page, form=form, address=pending), 400
    return redirect(url_for("recovery.settings", changed="email"), code=303)
