"""Forgotten credentials (J6, J7): forgot username, forgot password by emailed code or
by security questions, and the recovery information itself (J2, S14). Built on the
core's accounts, email codes, sessions and mail services.

The core reaches this slice only through the app factory (which builds its services,
``recovery.runtime``, and registers its blueprint, ``recovery.views``) and
endpoint names (``recovery.setup_questions`` after registration, the sign-in page's
links to ``recovery.forgot_username`` and ``recovery.forgot_password``)."""
