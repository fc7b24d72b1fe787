"""Clef's core: accounts, passwords, sessions, throttling, mail, audit, the admin CLI and
the sign-in screens. ``idp.app.create_app`` builds the web app."""
