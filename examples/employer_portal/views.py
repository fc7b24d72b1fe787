"""The portal's pages: home, sign-in through Clef, the callback, the account page
with what Clef said, sign-out (RP-initiated logout) and the back-channel logout
endpoint Clef's server calls."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from authlib.common.errors import AuthlibBaseError
from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    session,
)
from flask.typing import ResponseReturnValue
from joserfc.errors import JoseError

from examples.employer_portal import CLIENT_KEY, STORE_KEY
from examples.employer_portal.logout_token import InvalidLogoutToken, validate_logout_token
from examples.employer_portal.sessions import SessionStore, SignedIn
from examples.employer_portal.strings import LANGUAGE_NAMES, LANGUAGES, STRINGS

log = logging.getLogger("employer_portal")
bp = Blueprint("portal", __name__)
SESSION_ID = "portal_session"  # the cookie holds only this id; the rest is in the store
LANGUAGE = "lang"


def _clef() -> Any:
    """Authlib's client for Clef (untyped)."""
    return current_app.extensions[CLIENT_KEY]


def _store() -> SessionStore:
    store: SessionStore = current_app.extensions[STORE_KEY]
    return store


def _url(path: str) -> str:
    return str(current_app.config["URL"]) + path


def _leeway() -> int:
    return int(current_app.config["LEEWAY_SECONDS"])


def locale() -> str:
    chosen = session.get(LANGUAGE)
    if chosen in LANGUAGES:
        return str(chosen)
    return request.accept_languages.best_match(LANGUAGES) or LANGUAGES[0]


def safe_next(value: str | None) -> str:
    """A local path to go back to, else the home page (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    return "/" if parts.scheme or parts.netloc else value


def signed_in() -> SignedIn | None:
    """The person's live session; a cookie whose session ended (sign-out, back-channel
    logout, expiry) is forgotten."""
    found = _store().get(session.get(SESSION_ID))
    if found is None:
        session.pop(SESSION_ID, None)
    return found


@bp.app_context_processor
def page_context() -> dict[str, Any]:
    lang = locale()
    return {
        "lang": lang,
        "t": STRINGS[lang],
        "other_languages": [(c, LANGUAGE_NAMES[c]) for c in LANGUAGES if c != lang],
        "here": request.full_path.rstrip("?"),
    }


@bp.app_template_filter("utc_iso")
def utc_iso(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


@bp.app_template_filter("utc_text")
def utc_text(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@bp.after_app_request
def security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; "
        "form-action 'self' " + str(current_app.config["ISSUER"]))
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/")
def home() -> ResponseReturnValue:
    """The portal's sign-in page; back here after Clef signed the person out, with the
    ``state`` the sign-out sent (checked, then a notice)."""
    signed_out = False
    if request.args.get("state"):
        try:
            _clef().validate_logout_response()
            signed_out = True
        except AuthlibBaseError:
            signed_out = False
    return render_template("home.html", person=signed_in(), signed_out=signed_out)


@bp.get("/language/<code>")
def choose_language(code: str) -> ResponseReturnValue:
    """The language toggle on every page: this page again, in that language."""
    if code in LANGUAGES:
        session[LANGUAGE] = code
    return redirect(safe_next(request.args.get("next")), code=303)


@bp.get("/signin")
def sign_in() -> ResponseReturnValue:
    """To Clef's authorization endpoint: code flow, PKCE S256, state and nonce (Authlib
    makes and remembers them), in the portal's language (``ui_locales``), with the
    ``acr_values`` it is configured to demand, if any."""
    extra = {"acr_values": current_app.config["ACR_VALUES"]} if current_app.config["ACR_VALUES"] else {}
    try:
        response: Response = _clef().authorize_redirect(_url("/callback"), ui_locales=locale(),
                                                        **extra)
    except OSError as error:  # Clef cannot be reached (discovery)
        log.warning("sign-in not started: %s", error)
        return render_template("error.html"), 503
    return response


@bp.get("/callback")
def callback() -> ResponseReturnValue:
    clef = _clef()
    try:
        _check_issuer(clef)
        # state, PKCE verifier, the token request (client_secret_basic), then the ID
        # token: signature (JWKS), iss, aud, exp, iat, nonce, at_hash (OIDC Core §3.1.3.7)
        token = clef.authorize_access_token(leeway=_leeway())
        if "userinfo" not in token:
            raise InvalidSignIn("no ID token")
        claims = dict(token["userinfo"])
        userinfo = dict(clef.userinfo(token=token))
        if userinfo.get("sub") != claims["sub"]:  # OIDC Core §5.3.4
            raise InvalidSignIn("userinfo sub differs from the ID token's")
    except (InvalidSignIn, AuthlibBaseError, JoseError, OSError) as error:
        log.warning("sign-in refused: %s: %s", type(error).__name__, error)
        return render_template("error.html"), 400
    old = session.get(SESSION_ID)
    if old:
        _store().end(old)
    session[SESSION_ID] = _store().start(token["id_token"], claims, userinfo)
    return redirect("/account", code=303)


class InvalidSignIn(Exception):
    pass


def _check_issuer(clef: Any) -> None:
    """RFC 9207: Clef names itself in every authorization response; a response from
    another issuer (a mix-up attack) is refused."""
    expected = clef.load_server_metadata().get("issuer")
    if request.args.get("iss") != expected:
        raise InvalidSignIn(f"iss {request.args.get('iss')!r} is not {expected!r}")


@bp.get("/account")
def account() -> ResponseReturnValue:
    person = signed_in()
    if person is None:
        return redirect("/", code=303)
    return render_template("account.html", person=person)


@bp.post("/signout")
def sign_out() -> ResponseReturnValue:
    """End the portal's session, then RP-initiated logout at Clef with the ID token as
    hint, back to the portal's home page (its registered post-logout URI)."""
    person = signed_in()
    session.pop(SESSION_ID, None)
    if person is None:
        return redirect("/", code=303)
    _store().end(person.id)
    response: Response = _clef().logout_redirect(
        post_logout_redirect_uri=_url("/"), id_token_hint=person.id_token, ui_locales=locale())
    return response


@bp.post("/backchannel-logout")
def backchannel_logout() -> ResponseReturnValue:
    """OpenID Connect Back-Channel Logout 1.0 §2.5-2.8: Clef's server posts a signed
    logout token when a sign-in session ends there; the portal's sessions of it end."""
    clef = _clef()
    try:
        metadata = clef.load_server_metadata()
        claims = validate_logout_token(
            request.form.get("logout_token", ""),
            lambda force: clef.fetch_jwk_set(force=force),
            issuer=metadata["issuer"], client_id=clef.client_id,
            algorithms=metadata.get("id_token_signing_alg_values_supported", ["RS256"]),
            leeway=_leeway(),
        )
        if not _store().first_use_of(claims["jti"], float(claims["exp"]) + _leeway()):
            raise InvalidLogoutToken("replayed jti")
    except (InvalidLogoutToken, OSError) as error:
        log.warning("logout token refused: %s", error)
        response = current_app.json.response({"error": "invalid_request"})
        response.status_code = 400
        return response
    ended = _store().end_for(claims.get("sid"), claims.get("sub"))
    log.info("back-channel logout: %d session(s) ended", ended)
    return Response(status=200)
