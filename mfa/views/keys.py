"""Security keys and passkeys (D3): register one (J8, or one more from the account
page, S14), sign in with one, remove one. The checks are mfa.security_keys'; here the
pending challenge lives in the server-side session, popped before it is checked, so
each challenge is answered once."""

from __future__ import annotations

from flask import abort, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from idp import audit
from idp.forms import PostOnlyForm
from idp.messages import locked_message
from idp.models import Account
from idp.ratelimit import configured, limiter
from idp.runtime import db
from idp.sessions import FULL, PASSWORD
from idp.views.common import after_sign_in_target, now, where
from idp.web_session import (
    current_session,
    fresh_sign_in_required,
    passed_second_factor,
    password_step_required,
)
from mfa import events
from mfa.checkers import WrongCode
from mfa.forms import SecurityKeyForm, SecurityKeySignInForm
from mfa.models import SECURITY_KEY
from mfa.runtime import mfa_services
from mfa.security_keys import DuplicateKey, KeyRefused, Pending
from mfa.service import SecondStepLocked
from mfa.views.blueprint import bp
from mfa.views.common import attempt, current_account, notify, signed_in_target
from mfa.views.enrol import changing, enrolment_step, finish_setup

PENDING_KEY = "mfa.webauthn"


def _binding() -> str:
    record = current_session().record
    if record is None:
        abort(403)
    return str(record.id)


def _take_pending() -> Pending | None:
    """The pending challenge, removed from the session: single use whatever the answer."""
    return Pending.from_json(session.pop(PENDING_KEY, None))


def refused_message() -> str:
    return str(_("Your security key was not accepted. Try again, or use another method."))


@bp.route("/setup/key", methods=["GET", "POST"])
@enrolment_step
@limiter.limit(configured("second_factor_per_ip"), methods=["POST"], scope="ip.second_factor")
def setup_key() -> ResponseReturnValue:
    """Register a key: as the first factor (J8, then recovery codes as for the other
    methods) or as one more (from the account page, fresh sign-in, S14)."""
    account = current_account()
    form = SecurityKeyForm()
    if request.method == "POST" and form.validate_on_submit():
        keys = mfa_services().security_keys
        try:
            key = keys.verify_registration(db(), account.id, _take_pending(),
                                           form.credential.data or "", form.name.data or "",
                                           _binding(), now())
        except DuplicateKey:
            form.credential.errors = [_("This key is already registered.")]
        except KeyRefused:
            _record(account, events.SETUP_FAILURE, method=SECURITY_KEY)
            form.credential.errors = [refused_message()]
        else:
            _record(account, events.KEY_ADDED, commit=False, key=str(key.id))
            if current_session().level == PASSWORD:
                return finish_setup(account, SECURITY_KEY, keys.amr_of(key))
            notify(account, "security_key_added", key_name=key.name)
            db().commit()
            return redirect(url_for("mfa.manage", added=1), code=303)
    status = 400 if request.method == "POST" else 200
    return _registration_page(account, form, status)


def _registration_page(account: Account, form: SecurityKeyForm,
                       status: int) -> ResponseReturnValue:
    options, pending = mfa_services().security_keys.registration_options(
        db(), account.id, account.username, _binding(), now())
    session[PENDING_KEY] = pending.to_json()
    form.credential.data = ""
    return render_template("mfa/setup_key.html", form=form, options=options,
                           changing=changing()), status


@bp.route("/challenge/key", methods=["GET", "POST"])
@password_step_required
@limiter.limit(configured("second_factor_per_ip"), methods=["POST"], scope="ip.second_factor")
def challenge_key() -> ResponseReturnValue:
    """The second step with a key (D3), through the second-step service: a refused
    answer counts like a wrong code (D4, S7); a counter that went back is audited as a
    possible clone."""
    if current_session().level == FULL:
        return redirect(after_sign_in_target(), code=303)
    account = current_account()
    m = mfa_services()
    if m.security_keys.count(db(), account.id) == 0:
        return redirect(url_for("mfa.challenge"), code=303)
    form = SecurityKeySignInForm()
    if request.method == "GET":
        return _assertion_page(account, form)
    pending = _take_pending()
    if not form.validate_on_submit():
        return _assertion_page(account, form, 400)
    try:
        m.second_step.verify_security_key(db(), attempt(account), form.credential.data or "",
                                          pending, now(), passed_second_factor)
    except SecondStepLocked as locked:
        return _assertion_page(account, form, 429, locked_message(locked.retry_after))
    except WrongCode:
        return _assertion_page(account, form, 401, refused_message())
    return redirect(signed_in_target(), code=303)


def _assertion_page(account: Account, form: SecurityKeySignInForm, status: int = 200,
                    error: str | None = None) -> ResponseReturnValue:
    m = mfa_services()
    options, pending = m.security_keys.assertion_options(db(), account.id, _binding(), now())
    session[PENDING_KEY] = pending.to_json()
    return render_template("mfa/challenge_key.html", form=form, options=options, error=error,
                           factor=m.factors.get(db(), account.id)), status


@bp.post("/keys/<int:key_id>/remove")
@fresh_sign_in_required
def remove_key(key_id: int) -> ResponseReturnValue:
    """S14: a fresh sign-in, a notification; the last factor stays (an account always
    has a second factor, S10)."""
    if not PostOnlyForm().validate_on_submit():
        abort(400)
    account = current_account()
    m = mfa_services()
    key = m.security_keys.get(db(), account.id, key_id)
    if key is None:
        abort(404)
    name = key.name
    if not m.security_keys.remove_unless_last(db(), account.id, key_id):
        db().rollback()
        return redirect(url_for("mfa.manage", last=1), code=303)
    _record(account, events.KEY_REMOVED, commit=False, key=str(key_id))
    notify(account, "security_key_removed", key_name=name)
    db().commit()
    return redirect(url_for("mfa.manage", removed=1), code=303)


def _record(account: Account, tag: str, commit: bool = True, **details: str) -> None:
    audit.record(db(), now(), tag, actor=account.username, account_id=account.id,
                 where=where(), **details)
    if commit:
        db().commit()
