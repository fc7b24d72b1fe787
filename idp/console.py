"""The ``clef`` console script: Flask's click group on an app made by the factory.

Its own module so that the factory (which registers the commands) and the entry point
(which calls the factory) do not import each other."""

from __future__ import annotations

import sys
from pathlib import Path

from flask.cli import FlaskGroup

from idp.app import create_app


def main() -> None:
    """The ``clef`` console script."""
    cli = FlaskGroup(create_app=lambda: create_app(), add_default_commands=False,
                     add_version_option=False, load_dotenv=False, name="clef")
    cli.main(args=sys.argv[1:], prog_name=Path(sys.argv[0]).name)
