"""The slice's screens: the blueprint with every route on it, as the app factory
registers it (importing the view modules puts their routes on ``bp``)."""

from __future__ import annotations

from recovery import views_password, views_questions, views_username
from recovery.blueprint import bp

ROUTES = (views_password, views_questions, views_username)

__all__ = ["ROUTES", "bp"]
