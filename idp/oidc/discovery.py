"""The discovery document (OpenID Connect Discovery 1.0 §3): what a portal's library
reads to find the endpoints and what this provider supports. The issuer is the
configured base URL, never the Host header (S42)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from idp.oidc import acr as levels
from idp.oidc.keys import ALGORITHMS
from idp.oidc.runtime import oidc
from idp.runtime import services


def discovery_document(_url: Callable[[str], str]) -> dict[str, Any]:
    """``_url`` turns an endpoint name into its URL on the issuer."""
    confidential = ["client_secret_basic", "client_secret_post"]
    document = {
        "issuer": oidc().issuer,
        "authorization_endpoint": _url("oidc.authorize"),
        "token_endpoint": _url("oidc.token"),
        "userinfo_endpoint": _url("oidc.userinfo"),
        "jwks_uri": _url("oidc.jwks"),
        "end_session_endpoint": _url("oidc.end_session"),
        "revocation_endpoint": _url("oidc.revoke"),
        "introspection_endpoint": _url("oidc.introspect"),
        "scopes_supported": ["openid"],
        "response_types_supported": ["code"],  # S30
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["pairwise", "public"],
        "id_token_signing_alg_values_supported": list(ALGORITHMS),
        "token_endpoint_auth_methods_supported": [*confidential, "none"],
        "revocation_endpoint_auth_methods_supported": confidential,
        "introspection_endpoint_auth_methods_supported": confidential,
        "code_challenge_methods_supported": ["S256"],  # S34
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce",
                             "acr", "amr", "sid", "at_hash", levels.PARTNER_ACR],
        "acr_values_supported": list(levels.LEVELS),
        "prompt_values_supported": ["none", "login", "consent"],
        "ui_locales_supported": list(services().settings.i18n.languages),
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,  # S38, RFC 9207
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
    }
    return document
