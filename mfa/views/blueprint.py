"""The slice's blueprint. Its routes are in ``challenge``, ``enrol`` and ``manage``;
``mfa.views`` gathers them for the app factory, which registers it. The view modules
import this module, never their package, so there is no import circle."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("mfa", __name__, url_prefix="/2fa")
