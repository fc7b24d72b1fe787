"""Clef's core: accounts, passwords, sessions, throttling, mail, audit, the admin CLI and
the sign-in screens. ``create_app`` builds the web app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(*args: Any, **kwargs: Any) -> Flask:
    from idp.app import create_app as factory

    return factory(*args, **kwargs)
