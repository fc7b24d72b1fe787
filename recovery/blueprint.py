"""The slice's blueprint. Its routes are in ``views_username``, ``views_password`` and
``views_questions``; ``recovery.views`` gathers them for the app factory, which
registers it. Nothing imports the package back, so there is no import circle."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("recovery", __name__)
