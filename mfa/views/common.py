"""What the second-factor screens share: the account behind the session, finishing a
sign-in, counting attempts, notifications, and the codes shown once."""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import abort, session, url_for
from flask_babel import gettext as _

from idp import audit
from idp.mail_render import stage_mail
from idp.models import Account
from idp.runtime import db, services
from idp.throttle import SECOND_FACTOR_STEP, TooManyAttempts
from idp.views.auth import locked_message
from idp.views.common import NEXT_KEY, after_sign_in_target, now, session_account, where
from idp.web_session import passed_second_factor
from mfa import events
from mfa.factors import AMR_PASSWORD
from mfa.runtime import mfa_services

log = logging.getLogger("clef.mfa")

# Session keys this slice owns. Secrets in them are sealed (idp.secret_box): the session
# row is in the database, which must hold no TOTP secret or recovery code in clear.
PENDING_TOTP_KEY = "mfa.pending_totp"
SHOWN_CODES_KEY = "mfa.codes"
CODES_FOR_KEY = "mfa.codes_for"  # "enrol" or "change": where "Continue" goes after


def current_account() -> Account:
    account = session_account()
    if account is None:
        abort(403)
    return account


def claim_attempt(account: Account) -> str | None:
    """Count one second-factor attempt before checking it (S7, D4). Returns the J3
    message when the step is locked (nothing is checked then), else None."""
    try:
        services().throttle.claim(db(), account.username_key, now(), SECOND_FACTOR_STEP)
    except TooManyAttempts as locked:
        audit.record(db(), now(), events.LOCKED, actor=account.username,
                     account_id=account.id, where=where())
        db().commit()
        return locked_message(locked.retry_after)
    return None


def record_failure(account: Account, tag: str = events.FAILURE, **details: str) -> None:
    audit.record(db(), now(), tag, actor=account.username, account_id=account.id,
                 where=where(), **details)
    db().commit()


def complete_sign_in(account: Account, factor_amr: str | list[str], method: str) -> None:
    """Both factors passed: the session is signed in (new token, S20), the attempt
    counts are cleared, the inactivity clock restarts (D7). Commits. ``factor_amr`` is
    one value, or several (a security key: ``hwk`` and ``pop``)."""
    svc = services()
    amr = [factor_amr] if isinstance(factor_amr, str) else factor_amr
    passed_second_factor([AMR_PASSWORD, *amr])
    svc.throttle.clear(db(), account.username_key)
    svc.accounts.mark_used(account, now())
    audit.record(db(), now(), audit.LOGIN_SUCCESS, actor=account.username,
                 account_id=account.id, where=where(), step="second_factor", method=method)
    db().commit()


def signed_in_target() -> str:
    """Straight on to the page or portal that sent the person to sign in; without one,
    the success page (J9)."""
    if session.get(NEXT_KEY):
        return after_sign_in_target()
    return url_for("mfa.done")


def notify(account: Account, message: str, **context: Any) -> None:
    """A security notification to the confirmed recovery email, if there is one, staged
    in the transaction of the change it tells of: call before that commit. It leaves
    once the request is done (idp.outbox); one that cannot leave then is logged, not
    fatal, and sent later by the worker."""
    if not account.has_confirmed_email or account.email is None:
        return
    stage_mail(message, account.locale, account.email, account_id=account.id,
               username=account.username, **context)


def stash_codes(codes: list[str], purpose: str) -> None:
    """Keep freshly issued recovery codes, sealed, until the person says they saved
    them: they are shown (and downloadable) on that page only."""
    session[SHOWN_CODES_KEY] = mfa_services().box.seal(json.dumps(codes))
    session[CODES_FOR_KEY] = purpose


def stashed_codes() -> list[str] | None:
    sealed = session.get(SHOWN_CODES_KEY)
    if not isinstance(sealed, str):
        return None
    codes: list[str] = json.loads(mfa_services().box.open(sealed))
    return codes


def drop_codes() -> str:
    session.pop(SHOWN_CODES_KEY, None)
    return str(session.pop(CODES_FOR_KEY, "enrol"))


def wrong_code_message() -> str:
    return str(_("That code is not correct. Check it and try again."))

