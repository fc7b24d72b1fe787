"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0, S44): the page that
asks "Sign out?" unless the portal's hint names this very session, and the ending of
the browser's sign-in session. Registered on the provider's blueprint by
``idp.oidc.views``."""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from flask import abort, current_app, g, render_template, request, session
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms import ValidationError

from idp import audit
from idp.forms import PostOnlyForm
from idp.i18n import use_ui_locales
from idp.oidc.hints import names_session
from idp.oidc.liveness import SID_KEY
from idp.oidc.models import OAuthClient
from idp.oidc.server import LOGOUT_ENDER, SERVER_KEY
from idp.runtime import db, services
from idp.views.common import now, session_account, where
from idp.web_session import current_session, end_session


def _server() -> AuthorizationServer:
    server: AuthorizationServer = current_app.extensions[SERVER_KEY]
    return server


def end_session_view() -> ResponseReturnValue:
    """RP-initiated logout (S44). Redirects only to a registered post-logout URI named
    with a valid id_token_hint; otherwise (and never a dead end) a page saying the
    person is signed out, with a way on. Without a valid hint, the person is asked
    first, so a link on another site cannot sign them out."""
    server = _server()
    use_ui_locales(request.values.get("ui_locales"))  # RP-Initiated Logout 1.0 §2
    confirmed = request.method == "POST" and request.form.get("confirm") == "1"
    if confirmed:
        try:
            validate_csrf(request.form.get("csrf_token"))
        except (ValidationError, CSRFError):
            abort(400)
    try:
        logout = server.validate_endpoint_request("end_session")
    except OAuth2Error:
        logout = None  # a bad hint: no redirect, and the person decides
    signed_in = current_session().account_id is not None
    if signed_in and not confirmed and not _hint_names_this_session(logout):
        return render_template("oidc/confirm_logout.html", client=_portal(logout), form=PostOnlyForm(),
                               action=request.full_path.rstrip("?"))
    setattr(g, LOGOUT_ENDER, _end_browser_session)
    if logout is None:
        _end_browser_session()
        return render_template("oidc/signed_out.html", client=None)
    response = server.create_endpoint_response("end_session", logout)
    if response is not None:
        return response
    return render_template("oidc/signed_out.html", client=_portal(logout))


def _portal(logout: Any) -> OAuthClient | None:
    """The portal row of a logout request, if it named one (Authlib holds a Portal)."""
    client = getattr(logout, "client", None)
    return client.row if client is not None else None


def _hint_names_this_session(logout: Any) -> bool:
    """S44: the question is skipped only for a valid hint naming the person *and* the
    sign-in session in this browser; anyone's valid ID token is not enough."""
    if logout is None or logout.needs_confirmation or logout.client is None:
        return False
    sid = session.get(SID_KEY)
    return names_session(logout.id_token_claims, services().keys, logout.client.row,
                         current_session().account_id, sid if isinstance(sid, str) else None)


def _end_browser_session() -> None:
    account = session_account()
    if account is not None:
        audit.record(db(), now(), audit.OIDC_LOGOUT, actor=account.username,
                     account_id=account.id, where=where())
    end_session()
    db().commit()
