"""Forgot username (J6): Step 1 of 2 takes the recovery email, Step 2 of 2 says where
the usernames were sent and what to do if nothing arrives.

S6: the same page, status and work whether or not the address is known: the mail is
rendered either way, and sent (in the background) only when it has usernames to carry. Limited per client
address and per address asked about (D4), so nobody can flood a mailbox or probe a
list of addresses."""

from __future__ import annotations

from flask import redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale

from idp import audit
from idp.ratelimit import configured, limiter
from idp.runtime import db, services
from idp.views.common import now, where
from recovery.blueprint import bp
from recovery.forms import RecoveryEmailForm
from recovery.lookup import find_by_recovery_email, normalise_address
from recovery.mail import USERNAMES, deliver_in_background

ADDRESS_KEY_PURPOSE = "recovery.forgot-username.address"
SENT_TO_KEY = "recovery.username_sent_to"


def address_limit_key() -> str:
    """The per-address limit's key: a keyed hash of the normalised address asked about,
    so the limiter's storage holds no address in clear."""
    typed = normalise_address(request.form.get("email", ""))
    return "address:" + services().keys.keyed_hash(ADDRESS_KEY_PURPOSE, typed)


@bp.route("/forgot-username", methods=["GET", "POST"])
@limiter.limit(configured("forgot_username_per_ip"), methods=["POST"], scope="ip.forgot_username")
@limiter.limit(configured("forgot_username_per_address"), methods=["POST"],
               key_func=address_limit_key, scope="address.forgot_username")
def forgot_username() -> ResponseReturnValue:
    form = RecoveryEmailForm()
    if request.method == "GET":
        return render_template("recovery/forgot_username.html", form=form)
    if not form.validate_on_submit():
        return render_template("recovery/forgot_username.html", form=form), 400
    address = (form.email.data or "").strip()
    accounts = find_by_recovery_email(db(), address)
    locale = str(get_locale() or "en")
    usernames = [(a.username, a.is_revoked) for a in accounts] or [("username", False)]
    to = (accounts[0].email or address) if accounts else None
    deliver_in_background(USERNAMES, locale, to, usernames=usernames)
    audit.record(db(), now(), audit.RECOVERY_USERNAME_ASKED,
                 actor=accounts[0].username if len(accounts) == 1 else "unknown",
                 account_id=accounts[0].id if len(accounts) == 1 else None,
                 where=where(), accounts=[a.id for a in accounts])
    db().commit()
    session[SENT_TO_KEY] = address
    return redirect(url_for("recovery.username_sent"), code=303)


@bp.get("/forgot-username/sent")
def username_sent() -> ResponseReturnValue:
    address = session.get(SENT_TO_KEY)
    if not address:
        return redirect(url_for("recovery.forgot_username"), code=303)
    return render_template("recovery/username_sent.html", address=address)
