"""The provider's services for one app, built by the app factory."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app

from idp.keys import KeyRing
from idp.oidc.clients import Clients
from idp.oidc.keys import SigningKeys
from idp.oidc.tokens import Tokens
from idp.secret_box import SecretBox
from idp.settings import Settings

EXTENSION_KEY = "clef.oidc"


@dataclass
class OidcServices:
    issuer: str
    clients: Clients
    signing_keys: SigningKeys
    tokens: Tokens


def build_oidc_services(settings: Settings, keys: KeyRing, box: SecretBox) -> OidcServices:
    s = settings.oidc
    return OidcServices(
        issuer=settings.service.base_url.rstrip("/"),
        clients=Clients(keys),
        signing_keys=SigningKeys(box, timedelta(minutes=s.key_publish_lead_minutes),
                                 timedelta(seconds=s.id_token_lifetime_seconds)),
        tokens=Tokens(s),
    )


def oidc() -> OidcServices:
    found: OidcServices = current_app.extensions[EXTENSION_KEY]
    return found
