"""J14's second door: the partner list, the trip to the partner, the way back (signed
in at Clef, continuing the portal's request), change of partner, and the error page."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue

from idp import audit
from idp.forms import PostOnlyForm
from idp.i18n import select_locale
from idp.oidc.acr import PARTNER_ACR
from idp.runtime import db, services
from idp.sessions import FULL, PASSWORD
from idp.views.common import after_sign_in_target, now, remember_next, where
from idp.web_session import (
    current_session,
    fresh_sign_in_required,
    is_fresh,
    passed_password,
    passed_second_factor,
    store_now,
)
from partners import replay
from partners.models import Partner
from partners.registry import LinkRefused, redirect_uri
from partners.runtime import PartnerServices, partner_services
from partners.upstream import PartnerError, Trip, new_trip, vouched_acr

bp = Blueprint("partners", __name__, url_prefix="/partners")
TRIP_KEY = "partner_trip"
CHANGE_KEY = "partner_change"
PARTNER_KEY = "signed_in_partner"
SIGN_OUT = "auth.sign_out"
PASSWORD_SLICES = ("mfa", "recovery")  # the username-and-password door's own pages
FEDERATED = "fed"  # the amr value of a sign-in through a partner (RFC 8176)
SIGNED_IN = "partner:login:success"
FAILED = "partner:login:failure"
CHANGED = "partner:link:changed"
LOGGED_OUT = "partner:backchannel:logout"


def _svc() -> PartnerServices:
    return partner_services()


def callback_uri(partner_id: int) -> str:
    """The redirect URI registered at the partner (``clef partners add`` prints it)."""
    return redirect_uri(services().settings.service.base_url, partner_id)


@bp.get("/")
def choose() -> ResponseReturnValue:
    if "next" in request.args:
        remember_next(request.args.get("next"))
    return render_template("partners/choose.html", partners=_svc().partners.enabled(db()),
                           form=PostOnlyForm())


@bp.get("/change")
@fresh_sign_in_required
def change() -> ResponseReturnValue:
    """J14 "change my sign-in partner": signed in through the old partner, the person
    picks the new one; coming back links it in place of the old (same account, same
    ``sub`` at every portal). It replaces how the person signs in, so, as every such
    change (S14), it needs a sign-in within ``session.fresh_minutes``."""
    account_id = current_session().account_id
    if account_id is None or _svc().partners.link_of(db(), account_id) is None:
        abort(404)
    return render_template("partners/choose.html", partners=_svc().partners.enabled(db()),
                           form=PostOnlyForm(), change=True)


def _partner_or_404(partner_id: int) -> Partner:
    partner = _svc().partners.get(db(), partner_id)
    if partner is None or not partner.enabled:
        abort(404)
    return partner


@bp.post("/<int:partner_id>/start")
def start(partner_id: int) -> ResponseReturnValue:
    """Off to the partner: a fresh trip (state, nonce, PKCE verifier) kept in this
    browser's server-side session, never in the URL but for state and the challenge."""
    form = PostOnlyForm()
    if not form.validate_on_submit():
        abort(400)
    partner = _partner_or_404(partner_id)
    svc, trip = _svc(), new_trip(partner.id)
    current = current_session()
    current[TRIP_KEY] = trip.as_dict()
    current[CHANGE_KEY] = bool(request.form.get("change")) and current.level == FULL \
        and is_fresh(current.record)
    try:
        target = svc.upstream.authorization_url(svc.partners.config(partner), trip,
                                                callback_uri(partner.id))
    except PartnerError as error:
        return _failed(partner, error)
    return redirect(target, code=303)


@bp.get("/<int:partner_id>/callback")
def callback(partner_id: int) -> ResponseReturnValue:
    partner = _partner_or_404(partner_id)
    current = current_session()
    trip = Trip.from_dict(current.pop(TRIP_KEY, None))  # one use: a replay finds none
    change = bool(current.pop(CHANGE_KEY, False))
    svc = _svc()
    try:
        if trip is None or trip.partner_id != partner.id:
            raise PartnerError("bad_response", "no trip to this partner in this browser")
        config = svc.partners.config(partner)
        args = {k: v for k, v in request.args.items() if isinstance(v, str)}
        code = svc.upstream.check_response(config, trip, args)
        claims = svc.upstream.exchange(config, trip, code, callback_uri(partner.id),
                                       int(now().timestamp()))
    except PartnerError as error:
        return _failed(partner, error)
    subject = str(claims["sub"])
    if change and current.account_id is not None:
        if not is_fresh(current.record):  # S14: gone stale during the trip: sign in again
            return redirect(url_for("partners.change"), code=303)
        return _change(partner, current.account_id, subject)
    account, created = svc.partners.account_for(db(), now(), partner, subject, select_locale())
    if account.is_revoked:
        audit.record(db(), now(), audit.LOGIN_REVOKED, actor=account.username,
                     account_id=account.id, where=where(), partner=partner.name)
        db().commit()
        return render_template("auth/revoked.html", partner=partner), 403
    if created:
        audit.record(db(), now(), audit.REGISTERED, actor=account.username,
                     account_id=account.id, where=where(), partner=partner.name)
    services().accounts.mark_used(account, now())
    # The partner stood for both factors: the session goes straight to signed in, with
    # the same idle and absolute limits as any other (D5), amr "fed".
    passed_password(account.id)
    db().flush()
    passed_second_factor([FEDERATED])
    signed_in = current_session()
    signed_in[PARTNER_KEY] = partner.id  # for the sign-out offer
    # D14: the partner's own acr reaches portals in its own claim, and only a value
    # the partner is registered as vouching for; it never changes Clef's acr.
    acr = vouched_acr(config, claims)
    if acr is None:
        signed_in.pop(PARTNER_ACR, None)
    else:
        signed_in[PARTNER_ACR] = acr
    said = claims.get("acr")
    unvouched = str(said)[:64] if said is not None and acr is None else None
    audit.record(db(), now(), SIGNED_IN, actor=account.username, account_id=account.id,
                 where=where(), partner=partner.name, partner_acr=acr,
                 **({"acr_not_vouched": unvouched} if unvouched else {}))
    db().commit()
    return redirect(after_sign_in_target(), code=303)


def remember_partner_at_sign_out() -> None:
    """Signing out at Clef ends the session, and with it the memory of the partner;
    keep it for this request so the next page can offer the partner's sign-out.
    A hook of the sign-out's blueprint only (:func:`register_hooks`)."""
    if request.endpoint == SIGN_OUT:
        g.partner_signing_out = current_session().get(PARTNER_KEY)


def offer_partner_sign_out(response: Response) -> Response:
    """The sign-out's redirect leads to the partner's sign-out offer when the session
    was a partner's. A hook of the sign-out's blueprint only."""
    if request.endpoint != SIGN_OUT:  # most of the blueprint's requests: one look-up
        return response
    partner_id = g.get("partner_signing_out")
    if response.status_code == 303 and isinstance(partner_id, int):
        response.headers["Location"] = url_for("partners.signed_out", partner_id=partner_id)
    return response


def password_pages_do_not_apply() -> ResponseReturnValue | None:
    """J14: a partner identity has no password, Clef second factor or recovery answers;
    those pages say so instead of offering to set them up. A hook of the
    :data:`PASSWORD_SLICES` blueprints only (:func:`register_hooks`)."""
    current = current_session()
    # A session at the password step has just proved a password, which a partner
    # identity never has (NO_PASSWORD): no look-up on the second-step pages (issue 11).
    if current.account_id is None or current.level == PASSWORD:
        return None
    if _svc().partners.link_of(db(), current.account_id) is None:
        return None
    return render_template("partners/not_applicable.html"), 403


def register_hooks(app: Flask) -> None:
    """The hooks above, each under the blueprints whose requests it concerns (Flask runs
    a blueprint's hooks on that blueprint's requests only, after the app's own): the
    other requests do not pay for them (issue 11)."""
    sign_out_blueprint = SIGN_OUT.split(".")[0]
    app.before_request_funcs.setdefault(sign_out_blueprint, []).append(remember_partner_at_sign_out)
    app.after_request_funcs.setdefault(sign_out_blueprint, []).append(offer_partner_sign_out)
    for blueprint in PASSWORD_SLICES:
        app.before_request_funcs.setdefault(blueprint, []).append(password_pages_do_not_apply)


@bp.get("/<int:partner_id>/signed-out")
def signed_out(partner_id: int) -> ResponseReturnValue:
    """Signed out at Clef; if the partner publishes ``end_session_endpoint``, an offer
    to sign out there too (RP-initiated logout, by ``client_id``)."""
    partner = _svc().partners.get(db(), partner_id)
    offer = None
    if partner is not None:
        endpoint = _svc().upstream.end_session_endpoint(partner.issuer)
        if endpoint:
            offer = endpoint + ("&" if "?" in endpoint else "?") + urlencode(
                {"client_id": partner.client_id})
    return render_template("partners/signed_out.html", partner=partner, offer=offer)


@bp.post("/<int:partner_id>/backchannel-logout")
def backchannel_logout(partner_id: int) -> ResponseReturnValue:
    """The partner's back-channel logout (register this URI at the partner): a valid
    logout token ends the linked identity's Clef sessions, which tells the portals in
    turn (their own back-channel logout)."""
    partner = _svc().partners.get(db(), partner_id)
    token = request.form.get("logout_token", "")
    headers = {"Cache-Control": "no-store"}
    if partner is None or not token:
        return "", 400, headers
    try:
        logout = _svc().upstream.validate_logout_token(
            _svc().partners.config(partner), token, int(now().timestamp()))
        if not replay.accept_once(db(), partner.issuer, logout.jti,
                                  datetime.fromtimestamp(logout.keep_until, UTC)):
            raise PartnerError("bad_token", "logout token replayed (jti seen before)")
    except PartnerError as error:
        db().rollback()
        audit.record(db(), now(), FAILED, actor=f"partner:{partner.id}", where=where(),
                     partner=partner.name, reason=error.kind, detail=error.detail)
        db().commit()
        return "", 400, headers
    subject = logout.subject
    account_id = _svc().partners.account_id_of(db(), partner.issuer, subject)
    ended = 0 if account_id is None else services().sessions.end_for_account(db(), account_id)
    audit.record(db(), now(), LOGGED_OUT, actor=f"partner:{partner.id}", account_id=account_id,
                 where=where(), partner=partner.name, sessions=ended)
    db().commit()
    return "", 200, headers


CSRF_EXEMPT = (backchannel_logout,)


def _change(partner: Partner, account_id: int, subject: str) -> ResponseReturnValue:
    try:
        _svc().partners.change(db(), now(), account_id, partner, subject)
    except LinkRefused:
        db().rollback()
        return _failed(partner, PartnerError("refused", "identity linked elsewhere"))
    current = current_session()
    current[PARTNER_KEY] = partner.id  # signing out now offers the new partner's sign-out
    current.pop(PARTNER_ACR, None)  # D14: the old partner's word no longer describes the link
    audit.record(db(), now(), CHANGED, actor=f"account:{account_id}", account_id=account_id,
                 where=where(), partner=partner.name)
    store_now()
    db().commit()
    return redirect(url_for("account.home"), code=303)


def _failed(partner: Partner, error: PartnerError) -> ResponseReturnValue:
    """Every failure lands here: a clear page, audited, never a stack trace."""
    current_app.logger.info("partner sign-in failed: %s", error.kind)
    audit.record(db(), now(), FAILED, actor=f"partner:{partner.id}", where=where(),
                 partner=partner.name, reason=error.kind, detail=error.detail)
    db().commit()
    status = 502 if error.kind == "unreachable" else 400
    return render_template("partners/error.html", partner=partner, kind=error.kind), status
