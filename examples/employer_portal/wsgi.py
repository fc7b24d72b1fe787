"""The WSGI entry point: ``gunicorn examples.employer_portal.wsgi:app``."""

from examples.employer_portal import create_app

app = create_app()
