"""What the second-factor screens share: the account behind the session, the attempt
handed to the second step (:mod:`mfa.service`, which counts, checks, audits and
commits), notifications, and the codes shown once."""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import abort, session, url_for
from flask_babel import gettext as _

from idp.mail_render import stage_notice
from idp.models import Account
from idp.runtime import db
from idp.views.common import after_sign_in_target, now, session_account, where
from idp.web_session import NEXT_KEY, current_session, passed_second_factor
from mfa.checkers import Attempt
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


def attempt(account: Account) -> Attempt:
    """This sign-in attempt at its second step, for :mod:`mfa.service`."""
    record = current_session().record
    if record is None:
        abort(403)
    return Attempt(account=account, binding=record.id, where=where())


def complete_sign_in(account: Account, factor_amr: str | list[str], method: str) -> None:
    """A new factor was just proved (J8): the second step is passed. Commits.
    ``factor_amr`` is one value, or several (a security key: ``hwk`` and ``pop``)."""
    mfa_services().second_step.passed(db(), attempt(account), factor_amr, method, now(),
                                      passed_second_factor)


def signed_in_target() -> str:
    """Straight on to the page or portal that sent the person to sign in; without one,
    the success page (J9)."""
    if session.get(NEXT_KEY):
        return after_sign_in_target()
    return url_for("mfa.done")


def notify(account: Account, message: str, **context: Any) -> None:
    """A security notification to the confirmed recovery email, if there is one
    (:func:`idp.mail_render.stage_notice`): call before the commit of the change."""
    stage_notice(account, message, **context)


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

