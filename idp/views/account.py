"""The account page: the first page behind sign-in, and the one people land on after
signing in without a portal."""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from idp.runtime import db, services
from idp.views.common import session_account
from idp.web_session import current_session, login_required

bp = Blueprint("account", __name__)


@bp.get("/account")
@login_required
def home() -> str:
    account = session_account()
    if account is None:
        abort(403)
    sessions = services().sessions.count_for_account(db(), account.id)
    return render_template("account/home.html", account=account, session_count=sessions,
                           record=current_session().record)
