"""Second factors (J8-J11): TOTP, email codes, recovery codes.

The core hands over here by endpoint name: ``mfa.setup`` after registration and
``mfa.challenge`` after the password step. Until the second-factor work lands, both
say plainly that this step is not available yet; nobody is signed in without it (S10).
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("mfa", __name__, url_prefix="/2fa")

from mfa import views  # noqa: E402,F401 - registers the routes on bp
