"""The ``clef`` console script: Flask's click group on an app made by the factory.

Its own module so that the factory (which registers the commands) and the entry point
(which calls the factory) do not import each other. ``clef serve`` (idp.serve) is
added to the group itself, so granian's main process never loads the app."""

from __future__ import annotations

import sys
from pathlib import Path

from flask import Flask
from flask.cli import FlaskGroup

from idp.serve import serve_command


def _create_app() -> Flask:
    """The app, imported only when a command needs it: ``clef serve``'s main process must
    not import prometheus-client before it has set the metrics folder (idp.serve)."""
    from idp.app import create_app

    return create_app()


def main() -> None:
    """The ``clef`` console script."""
    cli = FlaskGroup(create_app=_create_app, add_default_commands=False,
                     add_version_option=False, load_dotenv=False, name="clef")
    # On the group itself, not the app's: the server's main process never loads the app.
    cli.add_command(serve_command)
    cli.main(args=sys.argv[1:], prog_name=Path(sys.argv[0]).name)
