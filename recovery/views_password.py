"""Forgot password (J7), the screens: Step 1 of 4 the username; Step 2 of 4 the emailed
code then the recovery question, or the three security questions; Step 3 of 4 the new
password; Step 4 of 4 Completed. The rules are in :mod:`recovery.reset`; these views
look up, call, redirect and render. The flow's token lives in the server-side session."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext

from idp.forms import PostOnlyForm
from idp.messages import PASSWORD_MESSAGES, email_code_error, locked_message, resend_wait_message
from idp.models import Account
from idp.password_policy import PasswordProblem
from idp.ratelimit import configured, limiter
from idp.runtime import db, services
from idp.throttle import TooManyAttempts
from idp.views.common import now, where
from recovery.answers import Answers
from recovery.blueprint import bp
from recovery.forms import AllAnswersForm, NewPasswordForm, RecoveryAnswerForm, ResetCodeForm, UsernameForm
from recovery.mail import (
    PASSWORD_RESET,
    RESET_CODE,
    REVOKED_NOTICE,
    code_minutes,
    deliver_in_background,
    notify,
)
from recovery.reset import (
    CodeError,
    CodeMail,
    CredentialRevoked,
    Flow,
    InvalidToken,
    NewPasswordRefused,
    NoLiveCode,
    ResendTooSoon,
    TooManyWrongAnswers,
    TooManyWrongCodes,
    WrongAnswer,
)
from recovery.runtime import reset_service
from recovery.tokens import CODE_PASSED, STARTED, VERIFIED

TOKEN_KEY = "recovery.reset_token"  # noqa: S105 - a session key, not a secret
DONE_KEY = "recovery.reset_done"
LIMIT = configured("forgot_password_per_ip")
SCOPE = "ip.forgot_password"


def _restart_message(reason: str | None) -> str | None:
    if reason == "expired":
        return str(_("This request has expired or a newer one was started. Start again."))
    if reason == "codes":
        return str(_("Too many wrong codes. Start again to receive a new code."))
    return None


def _current(purpose: str) -> Flow | None:
    try:
        return reset_service().flow(db(), purpose, session.get(TOKEN_KEY))
    except InvalidToken:
        return None


def _restart(reason: str = "expired") -> ResponseReturnValue:
    session.pop(TOKEN_KEY, None)
    return redirect(url_for("recovery.forgot_password", restart=reason), code=303)


def _send_code(mail: CodeMail | None) -> None:
    """Send the code in the background, or render the same mail for nobody (S6)."""
    if mail is not None:
        deliver_in_background(RESET_CODE, mail.locale, mail.to, code=mail.code,
                               username=mail.username, minutes=code_minutes())
    else:
        deliver_in_background(RESET_CODE, "en", None, code="000000", username="username",
                               minutes=code_minutes())


@bp.route("/forgot-password", methods=["GET", "POST"])
@limiter.limit(LIMIT, methods=["POST"], scope=SCOPE)
def forgot_password() -> ResponseReturnValue:
    form = UsernameForm()
    if request.method == "GET":
        return render_template("recovery/forgot_password.html", form=form,
                               error=_restart_message(request.args.get("restart")))
    if not form.validate_on_submit():
        return render_template("recovery/forgot_password.html", form=form), 400
    started = reset_service().start(db(), now(), form.username.data or "", where())
    _send_code(started.code_mail)
    # S6: the revoked notice is rendered for every username too, sent only to the owner.
    revoked = started.revoked_notice_to
    deliver_in_background(REVOKED_NOTICE, revoked.locale if revoked else "en",
                           revoked.email if revoked else None,
                           username=revoked.username if revoked else "username")
    session[TOKEN_KEY] = started.token
    session.pop(DONE_KEY, None)
    return redirect(url_for("recovery.reset_code"), code=303)


def _code_page(flow: Flow, form: ResetCodeForm, status: int = 200, **extra: Any) -> ResponseReturnValue:
    return render_template("recovery/reset_code.html", form=form, resend=PostOnlyForm(),
                           username=flow.username, **extra), status


@bp.route("/forgot-password/code", methods=["GET", "POST"])
@limiter.limit(LIMIT, methods=["POST"], scope=SCOPE)
def reset_code() -> ResponseReturnValue:
    flow = _current(STARTED)
    if flow is None:
        return _restart()
    form = ResetCodeForm()
    if request.method == "GET":
        return _code_page(flow, form, sent=request.args.get("sent"))
    if not form.validate_on_submit():
        return _code_page(flow, form, 400)
    service = reset_service()
    try:
        purpose, token = service.verify_code(db(), now(), flow, form.code.data or "", where())
    except TooManyWrongCodes:
        return _restart("codes")
    except TooManyAttempts as locked:  # D4: too many wrong codes of this username
        form.code.errors = [locked_message(locked.retry_after)]
        return _code_page(flow, form, 429)
    except CodeError as error:
        form.code.errors = [email_code_error(error)]
        return _code_page(flow, form, 400)
    session[TOKEN_KEY] = token
    if purpose == VERIFIED:
        return redirect(url_for("recovery.new_password"), code=303)
    return redirect(url_for("recovery.reset_question"), code=303)


@bp.post("/forgot-password/code/resend")
@limiter.limit(LIMIT, scope=SCOPE)
def resend_reset_code() -> ResponseReturnValue:
    flow = _current(STARTED)
    if flow is None or not PostOnlyForm().validate_on_submit():
        return _restart()
    try:
        token, mail = reset_service().resend(db(), now(), flow, where())
    except ResendTooSoon as wait:
        form = ResetCodeForm()
        form.code.errors = [resend_wait_message(wait)]
        return _code_page(flow, form, 429)
    except NoLiveCode:  # superseded by a newer flow meanwhile
        return _restart()
    _send_code(mail)
    session[TOKEN_KEY] = token
    return redirect(url_for("recovery.reset_code", sent=1), code=303)


def _answer_error(error: WrongAnswer | TooManyWrongAnswers) -> str:
    if isinstance(error, WrongAnswer):
        return str(ngettext(
            "At least one answer is not correct. %(num)d try left before the recovery "
            "questions are refused for a while.",
            "At least one answer is not correct. %(num)d tries left before the recovery "
            "questions are refused for a while.", error.left))
    hours = max(1, round(error.retry_after / timedelta(hours=1)))
    return str(ngettext(
        "Too many wrong answers. The recovery questions of this username are refused for "
        "%(num)d hour. You can still reset your password with a code sent to your recovery email.",
        "Too many wrong answers. The recovery questions of this username are refused for "
        "%(num)d hours. You can still reset your password with a code sent to your recovery email.",
        hours))


@bp.route("/forgot-password/questions", methods=["GET", "POST"])
@limiter.limit(LIMIT, methods=["POST"], scope=SCOPE)
def reset_questions() -> ResponseReturnValue:
    """J7's questions route: the three answers, each under its own hint (D1)."""
    flow = _current(STARTED)
    if flow is None:
        return _restart()
    service, form = reset_service(), AllAnswersForm()
    hints = service.hints(db(), flow)
    page = "recovery/reset_questions.html"
    if request.method == "GET":
        return render_template(page, form=form, hints=hints, username=flow.username)
    if not form.validate_on_submit():
        return render_template(page, form=form, hints=hints, username=flow.username), 400
    answers = Answers(form.answer.data or "", form.person.data or "",
                      form.memorable_date.data.isoformat() if form.memorable_date.data else "")
    try:
        token = service.verify_questions(db(), now(), flow, answers, where())
    except CredentialRevoked:
        session.pop(TOKEN_KEY, None)
        return render_template("auth/revoked.html"), 403
    except (WrongAnswer, TooManyWrongAnswers) as error:
        return render_template(page, form=form, hints=hints, username=flow.username,
                               error=_answer_error(error)), 400
    session[TOKEN_KEY] = token
    return redirect(url_for("recovery.new_password"), code=303)


@bp.route("/forgot-password/question", methods=["GET", "POST"])
@limiter.limit(LIMIT, methods=["POST"], scope=SCOPE)
def reset_question() -> ResponseReturnValue:
    """The email route's second half: the recovery question (J7, step 3 of the help page)."""
    flow = _current(CODE_PASSED)
    if flow is None:
        return _restart()
    service, form = reset_service(), RecoveryAnswerForm()
    hints = service.hints(db(), flow)
    page = "recovery/reset_question.html"
    if request.method == "GET":
        return render_template(page, form=form, hints=hints)
    if not form.validate_on_submit():
        return render_template(page, form=form, hints=hints), 400
    try:
        token = service.verify_question(db(), now(), flow, form.answer.data or "", where())
    except (WrongAnswer, TooManyWrongAnswers) as error:
        return render_template(page, form=form, hints=hints, error=_answer_error(error)), 400
    session[TOKEN_KEY] = token
    return redirect(url_for("recovery.new_password"), code=303)


def _show_refusal(form: NewPasswordForm, refused: NewPasswordRefused) -> None:
    settings = services().settings.password
    limits = {"min": settings.min_length, "max": settings.max_length}
    others = [str(PASSWORD_MESSAGES[p]) % limits for p in refused.problems
              if p is not PasswordProblem.MISMATCH]
    if refused.same_as_current:
        others.append(_("The new password must be different from your current password."))
    mismatch = [str(PASSWORD_MESSAGES[p]) for p in refused.problems if p is PasswordProblem.MISMATCH]
    for field, errors in ((form.password, others), (form.confirm, mismatch)):
        if not field.errors:
            field.errors = errors


def _notify_reset(account: Account) -> None:
    """S18: the recovery email is told, in the reset's own transaction."""
    notify(account, PASSWORD_RESET)


@bp.route("/forgot-password/new", methods=["GET", "POST"])
@limiter.limit(LIMIT, methods=["POST"], scope=SCOPE)
def new_password() -> ResponseReturnValue:
    flow = _current(VERIFIED)
    if flow is None:
        return _restart()
    form = NewPasswordForm()
    minimum = services().settings.password.min_length
    page = "recovery/new_password.html"
    if request.method == "GET":
        return render_template(page, form=form, password_min=minimum)
    if not form.validate_on_submit():
        return render_template(page, form=form, password_min=minimum), 400
    try:
        reset_service().set_password(db(), now(), flow, form.password.data or "",
                                     form.confirm.data or "", where(), notify=_notify_reset)
    except NewPasswordRefused as refused:
        _show_refusal(form, refused)
        return render_template(page, form=form, password_min=minimum), 400
    except InvalidToken:  # another request with this flow set the password first
        return _restart()
    session.pop(TOKEN_KEY, None)
    session[DONE_KEY] = True
    # S8: 303, so the browser never re-sends the new password.
    return redirect(url_for("recovery.reset_complete"), code=303)


@bp.get("/forgot-password/complete")
def reset_complete() -> ResponseReturnValue:
    if not session.get(DONE_KEY):
        return redirect(url_for("recovery.forgot_password"), code=303)
    return render_template("recovery/reset_complete.html")
