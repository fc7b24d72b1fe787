"""The partners slice plugged into one app, by the app factory: its services, its
blueprint and its commands."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from idp.runtime import Services, db
from partners import cli, replay, views
from partners.registry import Partners
from partners.runtime import EXTENSION_KEY, PartnerServices
from partners.upstream import Upstream


def init_app(app: Flask, core: Services, csrf: CSRFProtect) -> None:
    made = PartnerServices(Partners(core.box), Upstream(core.settings.partners, core.clock))
    app.extensions[EXTENSION_KEY] = made
    core.add_resealer("sign-in partner secrets", made.partners.reseal_all)
    core.add_purger("partners' used logout tokens", replay.purge)
    app.register_blueprint(views.bp)
    views.register_hooks(app)
    for view in views.CSRF_EXEMPT:
        csrf.exempt(view)
    cli.register(app)

    @app.context_processor
    def sign_in_door() -> dict[str, Any]:
        """What the account page shows of the door (J14): the partner's name for a
        partner identity, None for a username and password."""

        def sign_in_partner(account_id: int) -> str | None:
            link = made.partners.link_of(db(), account_id)
            if link is None:
                return None
            partner = made.partners.get(db(), link.partner_id) if link.partner_id else None
            return partner.name if partner is not None else "-"

        return {"sign_in_partner": sign_in_partner}
