"""The OpenID Connect provider for portals (J1, S30-S45): Authlib's server configured
through its hooks (``server``), Clef's tables (``models``), keys, clients, tokens,
pairwise subjects, back-channel logout, the endpoints (``views``) and ``clef clients``,
``clef keys`` and ``clef oidc`` commands (``cli``)."""

from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from idp.oidc.backchannel import Backchannel
from idp.oidc.runtime import EXTENSION_KEY, build_oidc_services
from idp.oidc.server import build_server
from idp.runtime import Services

BACKCHANNEL_KEY = "clef.oidc.backchannel"


def init_app(app: Flask, core: Services, csrf: CSRFProtect) -> None:
    from idp.oidc import cli, views

    provider = build_oidc_services(core.settings, core.keys, core.box)
    app.extensions[EXTENSION_KEY] = provider
    backchannel = Backchannel(core, provider)
    app.extensions[BACKCHANNEL_KEY] = backchannel
    core.sessions.listeners.append(backchannel.on_sessions_ended)
    core.resealers["token signing keys"] = provider.signing_keys.reseal_all
    build_server(app)
    app.register_blueprint(views.bp)
    for view in views.CSRF_EXEMPT:
        csrf.exempt(view)
    cli.register(app)
