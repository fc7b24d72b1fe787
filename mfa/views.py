"""The hand-off endpoints of the second-factor step. Placeholders that say so: the
pending session they are shown to grants nothing else (S20)."""

from __future__ import annotations

from flask import render_template

from idp.web_session import password_step_required
from mfa import bp


@bp.get("/setup")
@password_step_required
def setup() -> str:
    return render_template("mfa/not_available.html", step="setup")


@bp.get("/challenge")
@password_step_required
def challenge() -> str:
    return render_template("mfa/not_available.html", step="challenge")
