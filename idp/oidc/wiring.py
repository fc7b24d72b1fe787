"""The provider plugged into one app, by the app factory: its services, Authlib's
server, the endpoints, the commands, and the back-channel logout told of ended
sessions."""

from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from idp.oidc import cli, views
from idp.oidc.authorize_reads import AUTHORIZE_PATH, AUTHORIZE_RIDER
from idp.oidc.runtime import EXTENSION_KEY, build_oidc_services
from idp.oidc.server import build_server
from idp.runtime import Services


def init_app(app: Flask, core: Services, csrf: CSRFProtect) -> None:
    provider = build_oidc_services(core.settings, core.clock, core.keys, core.box)
    app.extensions[EXTENSION_KEY] = provider
    core.on_sessions_ended(provider.backchannel.on_sessions_ended)
    core.add_session_rider(AUTHORIZE_PATH, AUTHORIZE_RIDER)
    core.add_resealer("token signing keys", provider.signing_keys.reseal_all)
    build_server(app)
    app.register_blueprint(views.bp)
    for view in views.CSRF_EXEMPT:
        csrf.exempt(view)
    cli.register(app)
