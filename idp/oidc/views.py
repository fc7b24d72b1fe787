"""The provider's endpoints. Authlib answers the protocol; these views only decide what
a person must do first (sign in again, consent) and draw the pages around it.

Sign-in hand-off (S37): without a full session, or when ``prompt=login``, ``max_age`` or
``acr_values`` ask for a newer or stronger sign-in, the person goes through the sign-in
screens and comes back to the same authorization request. ``prompt=none`` never shows a
page. Requests that cannot be redirected safely get a page, never a redirect (S31).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlencode

from authlib.common.urls import add_params_to_uri
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InsecureTransportError, InvalidRequestError
from authlib.oidc.core.errors import (
    ConsentRequiredError,
    LoginRequiredError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)
from flask import (
    Blueprint,
    Flask,
    Request,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms import ValidationError

from idp import audit
from idp.errors import service_unavailable
from idp.forms import FORM_TOKEN
from idp.i18n import use_ui_locales
from idp.models import Account
from idp.oidc import acr as levels
from idp.oidc import reauth, token_limit
from idp.oidc.authlib_models import SignedIn
from idp.oidc.authorize_request import AuthorizePayload, AuthorizeRequest
from idp.oidc.authorize_writes import WithCode
from idp.oidc.discovery import discovery_document
from idp.oidc.hints import names_subject, verified_claims
from idp.oidc.liveness import SID_KEY
from idp.oidc.logout_views import end_session_view
from idp.oidc.models import Consent, OAuthClient
from idp.oidc.runtime import EXTENSION_KEY as OIDC_KEY
from idp.oidc.runtime import oidc
from idp.oidc.server import (
    AUTHORIZE_READ,
    AUTHORIZING_ACCOUNT,
    PROTECTOR_KEY,
    SERVER_KEY,
    WRITES_WITH_CODE,
)
from idp.oidc.tokens import SignInFacts
from idp.oidc.userinfo_endpoint import (
    error_response,
    log_unavailable,
    unavailable_response,
    userinfo_body,
)
from idp.redirects import safe_next
from idp.runtime import EXTENSION_KEY as CORE_KEY
from idp.runtime import db, services
from idp.sessions import FULL
from idp.template_context import query_value
from idp.views.common import now, session_account, where
from idp.web_session import current_session, store_now

bp = Blueprint("oidc", __name__)
DISCOVERY_KEY = "clef.oidc.discovery"  # the encoded discovery document and its ETag
MAX_AGE_DIGITS = 10  # about 317 years: longer is not a number of seconds anyone means


def _server() -> AuthorizationServer:
    server: AuthorizationServer = current_app.extensions[SERVER_KEY]
    return server


def _url(endpoint: str) -> str:
    """Endpoint URLs on the configured issuer, never the Host header (S17, S42)."""
    return oidc().issuer + url_for(endpoint)


def _static_json(body: bytes, etag: str) -> ResponseReturnValue:
    """A document that changes rarely: cached bytes, an ETag and a 304 when the portal
    already holds them (issue 11: no database, no JSON encoding per request)."""
    response = current_app.response_class(body, mimetype="application/json")
    response.set_etag(etag)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response.make_conditional(request)


@bp.get("/.well-known/openid-configuration")
def discovery() -> ResponseReturnValue:
    """OpenID Connect Discovery 1.0 §3; the issuer is the configured base URL (S42). The
    document depends on the settings only, so each process encodes it once."""
    cached: tuple[bytes, str] | None = current_app.extensions.get(DISCOVERY_KEY)
    if cached is None:
        body = json.dumps(discovery_document(_url), separators=(",", ":")).encode()
        cached = (body, hashlib.sha256(body).hexdigest()[:32])
        current_app.extensions[DISCOVERY_KEY] = cached
    return _static_json(*cached)


@bp.get("/jwks")
def jwks() -> ResponseReturnValue:
    """S42: every published key, the next one early and old ones until their tokens end;
    served from memory (``SigningKeys.published``)."""
    return _static_json(*oidc().signing_keys.published(db(), now()))


def published_documents(app: Flask) -> dict[str, tuple[str, Callable[[], tuple[bytes, str] | None]]]:
    """What idp.oidc.published answers in front of Flask: path -> (endpoint, the bytes
    and ETag these views would send now, or None while only the view can tell). The
    discovery document once a first request has encoded it; the JWKS while its copy in
    memory is fresh."""
    provider = app.extensions[OIDC_KEY]
    clock = app.extensions[CORE_KEY].clock
    paths = {rule.endpoint: rule.rule for rule in app.url_map.iter_rules()}

    def discovery_bytes() -> tuple[bytes, str] | None:
        cached: tuple[bytes, str] | None = app.extensions.get(DISCOVERY_KEY)
        return cached

    def jwks_bytes() -> tuple[bytes, str] | None:
        return provider.signing_keys.fresh(clock.now())

    return {paths["oidc.discovery"]: ("oidc.discovery", discovery_bytes),
            paths["oidc.jwks"]: ("oidc.jwks", jwks_bytes)}


def _error_page(error: OAuth2Error, status: int = 400) -> ResponseReturnValue:
    return render_template("oidc/error.html", error=error.error), status


def _error_redirect(error: OAuth2Error, state: str | None) -> ResponseReturnValue:
    """An error sent back to the portal, with ``state`` and ``iss`` (RFC 9207, S38)."""
    if state and not getattr(error, "state", None):
        error.state = state
    _, _, headers = error()
    location = dict(headers).get("Location")
    if not location:
        return _error_page(error)
    return redirect(add_params_to_uri(location, {"iss": oidc().issuer}), code=302)


def _signed_in() -> tuple[Account | None, Any]:
    """The account and session row of a session past both factors; (None, row) else."""
    current = current_session()
    if current.level != FULL:
        return None, current.record
    return session_account(), current.record


def _max_age(raw: str | None) -> int | None:
    """OIDC Core §3.1.2.1: a non-negative number of seconds, in ASCII digits (not '²',
    not '-1', not 5,000 digits)."""
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_AGE_DIGITS:
        raise InvalidRequestError("max_age must be a number of seconds")
    return int(raw)


def _origin(current: Request) -> str:
    """``scheme://host/``: of the request's URL, what Authlib's transport check reads
    (``idp.oidc.authorize_request``); the host as Werkzeug validated it."""
    return current.scheme + "://" + current.host + "/"


def _this_request() -> str:
    return request.full_path.rstrip("?")


def _signed_in_for_this_request(record: Any) -> bool:
    """True once the sign-in this very request sent the person to has happened: it
    must not send them round again (prompt=login, max_age=0, acr_values), S37."""
    return record is not None and reauth.signed_in_for(session, _this_request(), record.auth_time)


# RFC 6749 §3.1.1: response-type = response-name *( SP response-name ), of "_", digits
# and letters. Authlib echoes an unsupported one in its error description and raises
# ValueError when that holds characters an error description may not (§5.2).
RESPONSE_TYPE = re.compile(r"[A-Za-z0-9_]+(?: [A-Za-z0-9_]+)*")


def _malformed_response_type(values: dict[str, str]) -> bool:
    value = values.get("response_type")
    return value is not None and RESPONSE_TYPE.fullmatch(value) is None


def _unprintable_redirect_uri(values: dict[str, str]) -> bool:
    """A ``redirect_uri`` with a character no URI has unencoded (a control character,
    a quote, a backslash, anything past ASCII). Authlib echoes an unregistered one in
    its error description, which may hold printable ASCII only (RFC 6749 §5.2), and
    raises a ValueError instead of refusing: such a value can match no registered URI,
    so it is refused first, with a page and no redirect (S31)."""
    value = values.get("redirect_uri")
    return value is not None and ERROR_TEXT_OUTSIDE.search(value) is not None


# Authlib's ``invalid_error_characters`` as one regular expression: a character outside
# RFC 6749 §5.2's %x20-21 / %x23-5B / %x5D-7E. Authlib's tests each distinct character
# with a Python call; a few hundred per request (issue 11). The same answer for every
# character (tests/oidc/test_unprintable_redirect_uri.py).
ERROR_TEXT_OUTSIDE = re.compile(r"[^\x20\x21\x23-\x5B\x5D-\x7E]")


def _unsupported(data: Mapping[str, Any]) -> OAuth2Error | None:
    """What discovery says Clef does not do, refused rather than ignored: a request object
    by value or by reference (OIDC Core §6.1, §6.2: ``request_not_supported``,
    ``request_uri_not_supported``; ignoring one would drop what it asks, a ``max_age=0``
    say), and a ``response_mode`` other than ``query``, the one advertised (the code must
    not travel where the portal did not ask for it)."""
    if data.get("request") is not None:
        return RequestNotSupportedError()
    if data.get("request_uri") is not None:
        return RequestURINotSupportedError()
    mode = data.get("response_mode")
    if mode is not None and mode != "query":
        return InvalidRequestError(description="response_mode not supported")
    return None


def _as_get(current: Request) -> ResponseReturnValue:
    """OIDC Core §3.1.2.1: the endpoint takes an authorization request by POST too (a
    portal's auto-submitted form, which carries no form token of Clef's: the global CSRF
    check is lifted for this view and kept by :func:`_consent_decision` for the one POST
    that decides, the consent page's answer). It is the same request: answered as its
    GET, with every parameter in the query, so the sign-in can come back to it."""
    pairs = [(name, value) for source in (current.args, current.form)
             for name, values in source.lists() for value in values]
    return redirect(f"{url_for('oidc.authorize')}?{urlencode(pairs)}", code=303)


@bp.route("/authorize", methods=["GET", "POST"])
def authorize() -> ResponseReturnValue:
    # The request itself, looked up once through its proxy (issue 11: each
    # ``request.x`` is a look-up of the context), and its parameters read once
    # (idp.oidc.authorize_request).
    current: Request = request._get_current_object()  # type: ignore[attr-defined]
    method = current.method
    if method == "POST" and "decision" not in current.form:
        return _as_get(current)
    payload = AuthorizePayload(current.args.lists(),
                               current.form.lists() if method != "GET" else None)
    values = payload.data
    use_ui_locales(values.get("ui_locales"))  # every page below, the refusals' too
    if _malformed_response_type(values) or _unprintable_redirect_uri(values):
        return _error_page(InvalidRequestError())  # no client checked yet: no redirect
    server = _server()
    raw_state = values.get("state")
    account, record = _signed_in()
    # Read with the portal's row, in the same statement (``server.authorize_read``).
    setattr(g, AUTHORIZING_ACCOUNT, account.id if account is not None else None)
    try:
        oauth_request = AuthorizeRequest(method, _origin(current), current.headers, payload,
                                         lambda: current.url)
        grant = server.get_consent_grant(oauth_request, end_user=account)
    except OAuth2Error as error:
        if isinstance(error, LoginRequiredError) or getattr(error, "redirect_uri", None):
            return _error_redirect(error, raw_state)
        return _error_page(error)  # S31: unknown client or redirect URI: no redirect
    payload = grant.request.payload
    client: OAuthClient = grant.request.client.row
    prompts = set((payload.data.get("prompt") or "").split())
    redirect_uri = payload.redirect_uri or grant.request.client.get_default_redirect_uri()
    try:
        max_age = _max_age(payload.data.get("max_age"))
    except InvalidRequestError as error:
        error.redirect_uri = redirect_uri
        return _error_redirect(error, payload.state)
    unsupported = _unsupported(payload.data)
    if unsupported is not None:
        unsupported.redirect_uri = redirect_uri
        return _error_redirect(unsupported, payload.state)

    hinted = _hint_names(client, account, payload.data)  # True without a hint
    if account is None or record is None or _needs_sign_in(
        account, record, prompts, max_age, payload.data.get("acr_values")
    ) or ("none" in prompts and not hinted):
        if "none" in prompts:
            return _error_redirect(LoginRequiredError(redirect_uri=redirect_uri), payload.state)
        if method == "GET" and safe_next(_this_request()) is None:
            # Too long to come back to after the sign-in (``next``: 2,000 characters,
            # S26): said to the portal now, rather than lost on the way.
            return _error_redirect(InvalidRequestError(
                description="request too long", redirect_uri=redirect_uri), payload.state)
        demands = "login" in prompts or max_age is not None or bool(
            (payload.data.get("acr_values") or "").split())
        return _to_sign_in(payload.data.get("login_hint"), demands)
    if not hinted:  # OIDC Core §3.1.2.1: signed in as someone the hint does not name
        return _error_redirect(LoginRequiredError(redirect_uri=redirect_uri), payload.state)

    scope = grant.request.client.get_allowed_scope(payload.scope or "")
    if _answers_consent_page(current, client, prompts):
        # The consent page's own form: its answer decides, so the consent given before
        # is not read (issue 11). "Deny" is the person's last word even after a "yes"
        # in another tab; "allow" grants it again, one upsert.
        if not _consent_decision(current):
            reauth.forget(session)
            return _respond(server, grant, None)
        _grant_consent(account, client, scope)
    elif _needs_consent(client, account, scope, prompts):
        if "none" in prompts:
            return _error_redirect(ConsentRequiredError(redirect_uri=redirect_uri), payload.state)
        if _consent_decision(current) is None:
            return render_template("oidc/consent.html", client=client, form=FORM_TOKEN,
                                   action=current.full_path.rstrip("?"))
        # Posted without our form's answer: no consent, so no code.
        reauth.forget(session)
        return _respond(server, grant, None)
    elif method == "POST" and "decision" in current.form \
            and _consent_decision(current) is False:
        # "Deny" posted for a portal that needs no consent (trusted): still the
        # person's last word, so the portal gets no code.
        reauth.forget(session)
        return _respond(server, grant, None)
    # The S37 marker goes when the request is answered, not when its consent page is
    # shown: the consent form posts the same request, which must still pass.
    reauth.forget(session)

    _remember_portal(account, client)
    audit.record(db(), now(), audit.OIDC_AUTHORIZED, actor=account.username,
                 account_id=account.id, where=where(), client=client.client_id)
    signed_in = SignedIn(account, _sign_in_facts(record))  # Authlib's grant_user
    # The consent, the portal session's sid and the audit rows are written and
    # committed with the code (CodeGrant.save_authorization_code): one commit, one
    # statement on PostgreSQL (issue 11).
    store_now()
    return _respond(server, grant, signed_in)


def _respond(server: AuthorizationServer, grant: Any, grant_user: SignedIn | None) -> Response:
    """Authlib's ``create_authorization_response`` without its second validation of the
    request: ``get_consent_grant`` validated this very request moments ago (client,
    redirect URI, PKCE, nonce), so only the answer is made here (issue 11). The same
    error handling and hooks as Authlib's own (the server's, which add ``iss`` for RFC
    9207, S38, and the grant's)."""
    server.execute_hook("before_create_authorization_response", grant_user=grant_user,
                        grant=grant)
    try:
        status, body, headers = grant.create_authorization_response(grant.redirect_uri,
                                                                    grant_user)
        response: Response = server.handle_response(status, body, headers)
    except OAuth2Error as error:
        error.state = grant.request.payload.state
        response = server.handle_error_response(grant.request, error)
    grant.execute_hook("after_authorization_response", response)
    server.execute_hook("after_create_authorization_response", response)
    return response


def _needs_sign_in(account: Account, record: Any, prompts: set[str],
                   max_age: int | None, acr_values: str | None) -> bool:
    """Whether a signed-in person must sign in again for this request (S37)."""
    if record.auth_time is None:
        return True
    fresh = _signed_in_for_this_request(record)
    if "login" in prompts and not fresh:
        return True
    if max_age is not None and not fresh and now() - record.auth_time > timedelta(seconds=max_age):
        return True
    wanted = (acr_values or "").split()
    have = levels.achieved(record.amr)
    if wanted and not levels.satisfies(have, wanted) and not fresh:
        # A stronger factor than the one just used: only worth asking for when the
        # account has one; otherwise the portal gets the acr achieved (D2).
        factor = services().factor_amr(db(), account.id)
        if factor is not None and levels.satisfies(levels.achieved(factor), wanted):
            return True
    return False


def _hint_names(client: OAuthClient, account: Account | None, data: dict[str, Any]) -> bool:
    """S37: an ``id_token_hint`` naming someone other than the signed-in person means
    that person is not signed in (OIDC Core §3.1.2.1): ``login_required``, with
    ``prompt=none`` or without (then after any sign-in the request asked for)."""
    raw = data.get("id_token_hint")
    if not raw:
        return True
    claims = verified_claims(raw, oidc().signing_keys.jwks(db(), now()), oidc().issuer,
                             client.client_id)
    return claims is not None and names_subject(claims, services().keys, client,
                                                account.id if account else None)


def _to_sign_in(login_hint: str | None, demands: bool) -> ResponseReturnValue:
    """Through the sign-in screens and back to this same request (S37). The sign-in page
    keeps ``next`` from its own link; the marker is kept only for a request that asks
    for a new or stronger sign-in (``demands``), so a plain request writes no session
    for an anonymous visitor here (issue 11)."""
    target = _this_request() if request.method == "GET" else None
    if target is None:
        abort(400)
    if demands:
        reauth.ask(session, target, now())
    hint = login_hint if login_hint and len(login_hint) <= 64 else None
    return redirect(sign_in_url(target, hint), code=303)


def sign_in_url(target: str, hint: str | None) -> str:
    """``url_for("auth.sign_in", next=target, login_hint=hint)``, the query encoded in
    one pass (``query_value``): Werkzeug quotes the few hundred characters of an
    authorization request with a Python call each (issue 11)."""
    query = "next=" + query_value(target)
    if hint is not None:
        query += "&login_hint=" + query_value(hint)
    return url_for("auth.sign_in") + "?" + query


def _needs_consent(client: OAuthClient, account: Account, scope: str,
                   prompts: set[str]) -> bool:
    """Whether to ask: a portal that is not trusted, without a consent covering
    ``scope`` (or ``prompt=consent`` on the request itself)."""
    if client.trusted:
        return False
    if "consent" in prompts and request.method == "GET":
        return True  # the page is shown whatever was given
    known = g.get(AUTHORIZE_READ)
    if known is not None and known.answers_consent(account.id, client.client_id):
        given = known.consent_scope  # read with the portal's row (issue 11)
    else:
        row = db().get(Consent, (account.id, client.client_id))
        given = row.scope if row is not None else None
    return given is None or not set(scope.split()) <= set(given.split())


def _answers_consent_page(current: Request, client: OAuthClient, prompts: set[str]) -> bool:
    """Whether this request is our consent form posted back (a portal that is not
    trusted, the person's answer in ``decision``), rather than a portal's request."""
    return (current.method == "POST" and "decision" in current.form
            and not client.trusted and "none" not in prompts)


def _consent_decision(current: Request) -> bool | None:
    """None: not answered yet (GET). The answer of our own consent form, CSRF-checked
    here: the view is exempt from the app's check of every POST, which would refuse a
    portal's request by POST (:func:`_as_get`); a request the app's check has passed
    (``g.csrf_valid``) is not checked twice. ``current`` is the request the view looked
    up once."""
    if current.method != "POST":
        return None
    if not g.get("csrf_valid", False):
        try:
            validate_csrf(current.form.get("csrf_token"))
        except (ValidationError, CSRFError):
            abort(400)
    return current.form.get("decision") == "allow"


def _grant_consent(account: Account, client: OAuthClient, scope: str) -> None:
    """The person said yes: the consent is written, or rewritten with this scope and
    time, by one upsert whatever was given before, with the code (issue 11:
    ``idp.oidc.authorize_writes``, one statement with it on PostgreSQL). Audited."""
    _writes_with_code().consent = {"account_id": account.id, "client_id": client.client_id,
                                   "scope": scope, "granted_at": now()}
    audit.record(db(), now(), audit.OIDC_CONSENT, actor=account.username,
                 account_id=account.id, where=where(), client=client.client_id)


def _writes_with_code() -> WithCode:
    """What this request writes with its code (``CodeGrant.save_authorization_code``)."""
    found: WithCode | None = g.get(WRITES_WITH_CODE)
    if found is None:
        found = WithCode()
        setattr(g, WRITES_WITH_CODE, found)
    return found


def _provider_sid() -> str:
    """The sign-in session's sid at the portals, made on its first use."""
    sid = session.get(SID_KEY)
    if isinstance(sid, str):
        return sid
    sid = secrets.token_urlsafe(24)
    session[SID_KEY] = sid
    return sid


def _sign_in_facts(record: Any) -> SignInFacts:
    return SignInFacts(sid=_provider_sid(), auth_time=record.auth_time, amr=record.amr or "",
                       acr=levels.achieved(record.amr), partner_acr=_partner_acr(record))


def _partner_acr(record: Any) -> str | None:
    """D14: what the partners slice kept of the partner's own acr, for a sign-in that
    came through a partner only (amr ``fed``)."""
    value = current_session().get(levels.PARTNER_ACR)
    if levels.FEDERATED_AMR not in (record.amr or "").split() or not isinstance(value, str):
        return None
    return value


def _remember_portal(account: Account, client: OAuthClient) -> None:
    """Which portals this sign-in session was used with: each gets a back-channel
    logout when the session ends."""
    # Written with the code, whether or not this portal was used already in this
    # session: an insert that leaves an existing row alone (issue 11: no look-up first).
    _writes_with_code().portal_session = {
        "sid": _provider_sid(), "client_id": client.client_id, "account_id": account.id,
        "created_at": now()}


F = TypeVar("F", bound=Callable[..., Any])


def json_when_unavailable(view: F) -> F:
    """A back-channel endpoint's answer (/token, /revoke, /introspect, /userinfo) when
    the database (or the limit store, were its error let through) cannot be reached:
    the JSON 503 with ``Retry-After`` (the same as UserInfo's layer in front of Flask),
    which a portal's server can read, not the 503 page meant for a person.
    Logged without a trace, as idp.errors logs its 503: the cause is outside Clef."""
    @wraps(view)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except Exception as error:
            if not service_unavailable(error):
                raise
            log_unavailable(request.path)
            return unavailable_response()

    return run  # type: ignore[return-value]


@bp.post("/token")
@json_when_unavailable
@token_limit.limited
def token() -> ResponseReturnValue:
    """S33, S39 (Authlib sends Cache-Control: no-store), S41; limited per portal
    (``idp.oidc.token_limit``)."""
    if token_limit.basic_header_is_malformed():
        return _invalid_client()
    response: Response = _server().create_token_response()
    if response.status_code != 200:
        token_limit.forget_request_clients()
    return response


def _invalid_client() -> ResponseReturnValue:
    """RFC 6749 §5.2: unreadable client credentials, a 401 and never a 500."""
    response = jsonify({"error": "invalid_client"})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Basic realm="clef"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/userinfo", methods=["GET", "POST"])
@json_when_unavailable
def userinfo() -> ResponseReturnValue:
    """S43: a Bearer token, by GET or POST; the same ``sub`` as the ID token. Most
    requests are answered in front of Flask, with the same parts
    (idp.oidc.userinfo_endpoint); this view answers the unusual ones."""
    protector: ResourceProtector = current_app.extensions[PROTECTOR_KEY]
    try:
        token = protector.validate_request(["openid"], request)
    except OAuth2Error as error:
        return error_response(error, current_app.json)
    row = token.row  # idp.oidc.tokens.Tokens.find_bearer: with its client's subject type
    return Response(userinfo_body(services().keys, row, row.account_id), mimetype="application/json")


@bp.post("/revoke")
@json_when_unavailable
def revoke() -> ResponseReturnValue:
    """RFC 7009, confidential clients."""
    if token_limit.basic_header_is_malformed():
        return _invalid_client()
    response: Response = _server().create_endpoint_response("revocation")
    return response


@bp.post("/introspect")
@json_when_unavailable
def introspect() -> ResponseReturnValue:
    """RFC 7662, confidential clients, their own tokens only."""
    if token_limit.basic_header_is_malformed():
        return _invalid_client()
    response: Response = _server().create_endpoint_response("introspection")
    return response


@bp.errorhandler(InsecureTransportError)
def insecure_transport(error: InsecureTransportError) -> ResponseReturnValue:
    """A portal's server calling /token, /revoke or /introspect over plain http with a
    Host that is not loopback (a proxy that sends no ``X-Forwarded-Proto``, or the
    instance's port reached directly): Authlib refuses it while it builds its request,
    outside its own error answers. Its refusal as the JSON 400 a portal can read
    (``insecure_transport``), never the 500 page."""
    response = error_response(error, current_app.json)
    response.headers["Cache-Control"] = "no-store"
    return response


bp.add_url_rule("/logout", endpoint="end_session", view_func=end_session_view,
                methods=["GET", "POST"])


# Called by portals' servers or cross-site forms, with their own authentication.
CSRF_EXEMPT = (authorize, token, userinfo, revoke, introspect, end_session_view)
