"""Second factors (J8-J11): TOTP, email codes, recovery codes.

The core hands over here by endpoint name: ``mfa.setup`` after registration and
``mfa.challenge`` after the password step. This slice decides when the second factor
has been passed and tells the core through ``idp.web_session.passed_second_factor``,
with the amr values that say how (D2).

The app factory builds its services (``mfa.runtime``) and registers its blueprint
(``mfa.views``); the package itself imports nothing.
"""
