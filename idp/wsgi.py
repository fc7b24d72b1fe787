"""The WSGI entry point gunicorn serves: ``gunicorn idp.wsgi:app``."""

from idp.app import create_app

app = create_app()
