"""The provider's services for one app, built by the app factory (``idp.oidc.wiring``)
and reached through :func:`oidc`, the slice's one accessor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, current_app

from idp.clock import Clock
from idp.keys import KeyRing
from idp.oidc.backchannel import Backchannel
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
    backchannel: Backchannel


def build_oidc_services(settings: Settings, clock: Clock, keys: KeyRing,
                        box: SecretBox) -> OidcServices:
    s = settings.oidc
    issuer = settings.service.base_url.rstrip("/")
    clients = Clients(keys)
    signing_keys = SigningKeys(box, timedelta(minutes=s.key_publish_lead_minutes),
                               timedelta(seconds=s.id_token_lifetime_seconds),
                               timedelta(seconds=s.jwks_memory_seconds))
    tokens = Tokens(s)
    backchannel = Backchannel(issuer=issuer, settings=s, clock=clock, keys=keys,
                              clients=clients, tokens=tokens, signing_keys=signing_keys)
    return OidcServices(issuer=issuer, clients=clients, signing_keys=signing_keys,
                        tokens=tokens, backchannel=backchannel)


def oidc() -> OidcServices:
    """The provider's services of the current app (the app looked up once through its
    proxy, as ``idp.runtime.services``; issue 11)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    found: OidcServices = app.extensions[EXTENSION_KEY]
    return found
