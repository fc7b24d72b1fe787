"""After the second factor: the success page (J9, *Confirmation d'authentification
réussie*) and what can be changed from it: set the factor up again, new recovery codes
(S13, S14), sign out the other sessions. The codes page shows a new set once."""

from __future__ import annotations

from flask import Response, abort, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from idp import audit
from idp.forms import PostOnlyForm
from idp.runtime import db, services
from idp.views.common import after_sign_in_target, now, where
from idp.web_session import (
    NEXT_KEY,
    current_session,
    fresh_sign_in_required,
    is_fresh,
    login_required,
)
from mfa import events
from mfa.factors import AMR_RECOVERY_CODE
from mfa.forms import SavedCodesForm
from mfa.models import SecondFactor
from mfa.runtime import mfa_services
from mfa.views.blueprint import bp
from mfa.views.common import current_account, drop_codes, notify, stash_codes, stashed_codes


def _manage_page(just_signed_in: bool) -> ResponseReturnValue:
    account = current_account()
    record = current_session().record
    factor: SecondFactor | None = mfa_services().factors.get(db(), account.id)
    # J10: signed in with a recovery code and not set up again since.
    recovered = (record is not None and record.auth_time is not None
                 and AMR_RECOVERY_CODE in (record.amr or "").split()
                 and (factor is None or factor.created_at <= record.auth_time))
    return render_template(
        "mfa/manage.html",
        account=account, factor=factor, just_signed_in=just_signed_in, recovered=recovered,
        remaining=mfa_services().recovery_codes.remaining(db(), account.id),
        continue_to=session.get(NEXT_KEY) or url_for("account.home"),
        fresh=is_fresh(record), post_form=PostOnlyForm(),
        others_ended=request.args.get("ended", type=int),
        keys=mfa_services().security_keys.find_for(db(), account.id),
        key_notice=_key_notice(),
    )


def _key_notice() -> str | None:
    """What the last change to the security keys did (D3), after its redirect."""
    if request.args.get("added"):
        return str(_("Your security key was added."))
    if request.args.get("removed"):
        return str(_("The security key was removed."))
    if request.args.get("last"):
        return str(_("This is your only way to sign in after your password, so it cannot "
                     "be removed. Add another key or an app first."))
    return None


@bp.get("/done")
@login_required
def done() -> ResponseReturnValue:
    """Shown after a sign-in that no page or portal is waiting for, and after a
    recovery code (J10), which must lead to setting the factor up again."""
    return _manage_page(just_signed_in=True)


@bp.get("/continue")
@login_required
def continue_() -> ResponseReturnValue:
    """The success page's Continue: to the page that sent the person to sign in."""
    return redirect(after_sign_in_target(), code=303)


@bp.get("/manage")
@login_required
def manage() -> ResponseReturnValue:
    return _manage_page(just_signed_in=False)


@bp.route("/recovery-codes", methods=["GET", "POST"])
@login_required
def recovery_codes() -> ResponseReturnValue:
    """A new set, shown once: it stays (sealed) in the session until the person ticks
    that they saved it, so a reload or a crash does not lose it."""
    codes = stashed_codes()
    if codes is None:
        return redirect(url_for("mfa.manage"), code=303)
    form = SavedCodesForm()
    if request.method == "POST":
        if form.validate_on_submit():
            purpose = drop_codes()
            return redirect(after_sign_in_target() if purpose == "enrol"
                            else url_for("mfa.manage"), code=303)
        return render_template("mfa/recovery_codes.html", codes=codes, form=form), 400
    return render_template("mfa/recovery_codes.html", codes=codes, form=form)


@bp.get("/recovery-codes.txt")
@login_required
def recovery_codes_file() -> ResponseReturnValue:
    codes = stashed_codes()
    if codes is None:
        abort(404)
    account = current_account()
    name = services().settings.service.name
    text = "\n".join([f"{name}: {account.username}", "", *codes, ""])
    # A fixed ASCII name: the service's name may hold characters a header cannot.
    return Response(text, mimetype="text/plain", headers={
        "Content-Disposition": 'attachment; filename="recovery-codes.txt"',
    })


@bp.route("/recovery-codes/new", methods=["GET", "POST"])
@fresh_sign_in_required
def new_recovery_codes() -> ResponseReturnValue:
    """S13, S14: a new set replaces the old one at once; a notification follows."""
    account = current_account()
    form = PostOnlyForm()
    if request.method == "GET":
        return render_template("mfa/new_recovery_codes.html", form=form)
    if not form.validate_on_submit():
        abort(400)
    codes = mfa_services().recovery_codes.replace(db(), account.id, now())
    audit.record(db(), now(), events.RECOVERY_CODES_REPLACED, actor=account.username,
                 account_id=account.id, where=where())
    stash_codes(codes, "change")
    notify(account, "recovery_codes_replaced")
    db().commit()
    return redirect(url_for("mfa.recovery_codes"), code=303)


@bp.post("/sessions/end-others")
@login_required
def end_other_sessions() -> ResponseReturnValue:
    if not PostOnlyForm().validate_on_submit():
        abort(400)
    account = current_account()
    record = current_session().record
    if record is None:
        abort(403)
    ended = services().sessions.end_others(db(), account.id, record)
    audit.record(db(), now(), events.OTHER_SESSIONS_ENDED, actor=account.username,
                 account_id=account.id, where=where(), count=ended)
    db().commit()
    return redirect(url_for("mfa.manage", ended=ended), code=303)
