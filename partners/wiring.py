"""The partners slice plugged into one app, by the app factory: its services, its
blueprint and its commands."""

from __future__ import annotations

from flask import Flask

from idp.runtime import Services
from partners import cli, views
from partners.registry import Partners
from partners.runtime import EXTENSION_KEY, PartnerServices
from partners.upstream import Upstream


def init_app(app: Flask, core: Services) -> None:
    made = PartnerServices(Partners(core.box), Upstream())
    app.extensions[EXTENSION_KEY] = made
    core.add_resealer("sign-in partner secrets", made.partners.reseal_all)
    app.register_blueprint(views.bp)
    cli.register(app)
