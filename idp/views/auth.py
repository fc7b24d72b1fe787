"""Sign in (J1, up to the second factor), too many attempts (J3), session expiry and
sign out (J4), the language toggle (J5)."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from idp import audit
from idp.accounts import InvalidCredentials, RevokedCredential, TooManyAttempts
from idp.claimed_account import PasswordAccount
from idp.forms import PostOnlyForm, SignInForm
from idp.i18n import LANGUAGE_COOKIE, languages, select_locale, set_language_cookie
from idp.messages import locked_message
from idp.ratelimit import configured, post_limit
from idp.redirects import safe_next
from idp.runtime import db, services
from idp.sessions import ANONYMOUS, FULL
from idp.views.common import now, remember_next, session_account, where
from idp.web_session import current_session, end_session, passed_password, store_now

bp = Blueprint("auth", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    if current_session().level == FULL:
        return redirect(url_for("account.home"))
    return render_template("auth/index.html")


@bp.route("/signin", methods=["GET", "POST"])
@post_limit(configured("signin_per_ip"), scope="ip.signin")
def sign_in() -> ResponseReturnValue:
    form = SignInForm()
    current = request._get_current_object()  # type: ignore[attr-defined]  # looked up once
    if current.method == "GET":
        remember_next(current.args.get("next"))
        hint = current.args.get("login_hint")  # a portal's login_hint (S37)
        if hint and not form.username.data:
            form.username.data = hint[:64]
        return render_template("auth/signin.html", form=form)
    if not form.validate_on_submit():
        return render_template("auth/signin.html", form=form), 400
    svc = services()

    def passed(account: PasswordAccount) -> None:
        # The step's other writes, before its clear is sent: the session's renewal
        # (S20) rides in the clear's statement on PostgreSQL (idp.password_step_writes,
        # issue 11); the account's language (for its mail), written only when it
        # differs, begins the transaction the clear then joins, committed below.
        # The inactivity clock (D7) restarts when the second factor is passed, not here.
        passed_password(account.id)
        svc.accounts.remember_locale(db(), account, select_locale())

    try:
        svc.accounts.verify_password(
            db(), now(), username=form.username.data or "", password=form.password.data or "",
            where=where(), passed=passed,
        )
    except TooManyAttempts as locked:
        error = locked_message(locked.retry_after)
        return render_template("auth/signin.html", form=form, error=error, locked=True), 429
    except RevokedCredential:
        return render_template("auth/revoked.html"), 403
    except InvalidCredentials:
        error = _("The username or password is not correct.")
        return render_template("auth/signin.html", form=form, error=error), 401
    db().commit()
    # S8: 303, so the browser does not re-send the password anywhere.
    return redirect(url_for("mfa.challenge"), code=303)




@bp.post("/signout")
def sign_out() -> ResponseReturnValue:
    form = PostOnlyForm()
    if not form.validate_on_submit():
        abort(400)
    account = session_account()
    if account is not None:
        audit.record(db(), now(), audit.LOGOUT, actor=account.username,
                     account_id=account.id, where=where())
    end_session()
    return redirect(url_for("auth.signed_out"), code=303)


@bp.get("/signed-out")
def signed_out() -> str:
    return render_template("auth/signed_out.html")


@bp.get("/session-expired")
def session_expired() -> ResponseReturnValue:
    """J4. A tab's timer sends the person here at its own deadline; if another tab kept
    the session alive, saying "expired" would be false, so they go back instead."""
    target = safe_next(request.args.get("next"))
    if current_session().level != ANONYMOUS:
        return redirect(target or url_for("auth.index"), code=303)
    return render_template("auth/session_expired.html", next=target)


@bp.get("/session/remaining")
def session_remaining() -> ResponseReturnValue:
    """J4, D5: what a page's idle timer asks at its deadline, instead of navigating
    away: the whole seconds left (0 once the session has ended, which this very request
    may do). Never counts as activity (``web_session.PASSIVE_ENDPOINTS``), so a tab left
    open cannot keep its session alive; another tab's activity re-arms the timer."""
    current = current_session()
    remaining = 0
    if current.record is not None and current.level != ANONYMOUS:
        remaining = services().sessions.seconds_left(current.record, now(), this_request=False)
    return jsonify(remaining=remaining)


@bp.post("/session/keepalive")
def keep_alive() -> ResponseReturnValue:
    """"Stay signed in" (J4): any request renews the idle clock; this one exists so the
    warning has something to press. Writes last-seen now, whatever the touch interval."""
    form = PostOnlyForm()
    if not form.validate_on_submit():
        abort(400)
    current, account = current_session(), session_account()
    if current.record is None or account is None:
        return redirect(url_for("auth.sign_in"), code=303)
    services().sessions.touch(current.record, now(), force=True)
    store_now()  # written with the audit event, in the same commit
    audit.record(db(), now(), audit.SESSION_RENEWED, actor=account.username,
                 account_id=account.id, where=where())
    db().commit()
    return redirect(safe_next(request.form.get("next")) or url_for("auth.index"), code=303)


@bp.get("/language/<code>")
def choose_language(code: str) -> ResponseReturnValue:
    """The toggle: remembered in a cookie, and for a signed-in person on the account, so
    mail reaches them in the same language."""
    if code not in languages():
        abort(404)
    response = make_response(redirect(safe_next(request.args.get("next")) or url_for("auth.index"), code=303))
    set_language_cookie(response, LANGUAGE_COOKIE, code)
    account = session_account()
    if account is not None:
        account.locale = code
        db().commit()
    return response
