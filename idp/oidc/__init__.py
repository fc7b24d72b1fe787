"""The OpenID Connect provider for portals (J1, S30-S45): Authlib's server configured
through its hooks (``server``), Clef's tables (``models``), keys, clients, tokens,
pairwise subjects, back-channel logout, the endpoints (``views``), the ``clef clients``,
``clef keys`` and ``clef oidc`` commands (``cli``), and ``wiring``, which the app factory
calls to plug it all in. The package imports nothing, so its modules can import each
other through it without a circle."""
