"""The slice's screens: the blueprint with every route on it, as the app factory
registers it (importing the view modules puts their routes on ``bp``)."""

from __future__ import annotations

from mfa.views import challenge, enrol, manage
from mfa.views.blueprint import bp

ROUTES = (challenge, enrol, manage)

__all__ = ["ROUTES", "bp"]
