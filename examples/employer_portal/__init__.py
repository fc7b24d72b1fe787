"""A sample portal (relying party) that signs people in with Clef through OpenID
Connect, as the employer portal of the model service does: Authlib's Flask client
(discovery, PKCE S256, state, nonce, ID token checks), RP-initiated logout and
back-channel logout into a server-side session store.

Configured by environment variables (``PORTAL_<NAME>``, Flask's ``from_prefixed_env``):

- ``PORTAL_ISSUER``: Clef's URL (default ``http://127.0.0.1:5000``);
- ``PORTAL_URL``: this portal's own URL (default ``http://127.0.0.1:5001``);
- ``PORTAL_CLIENT_FILE``: the JSON file with ``client_id`` and ``client_secret``, written
  by ``register.py`` (default ``instance/employer_portal.json``);
- ``PORTAL_STORE``: the SQLite file of sessions (default ``instance/employer_portal.sqlite3``);
- ``PORTAL_ACR_VALUES``: the acr_values to demand (default none; for example
  ``urn:clef:acr:phishing-resistant`` for a security key or passkey);
- ``PORTAL_SECRET_KEY``: signs the portal's cookie (default: random at each start).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from authlib.integrations.flask_client import OAuth
from flask import Flask
from flask_wtf.csrf import CSRFProtect

from examples.employer_portal.sessions import SessionStore

HERE = Path(__file__).resolve().parent
DEFAULTS: dict[str, Any] = {
    "ISSUER": "http://127.0.0.1:5000",
    "URL": "http://127.0.0.1:5001",
    "CLIENT_FILE": "instance/employer_portal.json",
    "STORE": "instance/employer_portal.sqlite3",
    # Clock skew allowed on ID and logout tokens: small, but not zero (two machines'
    # clocks are never exactly together).
    "LEEWAY_SECONDS": 10,
    "SESSION_HOURS": 12,
    # acr_values the portal asks for (space-separated; empty: none), e.g.
    # "urn:clef:acr:phishing-resistant" to demand a security key or passkey (D3).
    "ACR_VALUES": "",
    # The portal's cookie must not be Clef's: on 127.0.0.1 both sites share cookies.
    "SESSION_COOKIE_NAME": "employer_portal",
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_HTTPONLY": True,
}
CLIENT_KEY = "employer_portal.clef"
STORE_KEY = "employer_portal.sessions"


def read_client_file(path: Path) -> dict[str, str]:
    """``client_id`` and ``client_secret`` as ``register.py`` stored them."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemExit(
            f"{path} is missing: register the portal first "
            "(python examples/employer_portal/register.py)") from None
    return {"client_id": str(data["client_id"]), "client_secret": str(data["client_secret"])}


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Defaults, then ``PORTAL_*`` environment variables, then ``overrides`` (tests)."""
    app = Flask(__name__, template_folder=str(HERE / "templates"),
                static_folder=str(HERE / "static"))
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env("PORTAL")
    app.config.update(overrides or {})
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = secrets.token_urlsafe(32)
    app.config["ISSUER"] = str(app.config["ISSUER"]).rstrip("/")
    app.config["URL"] = str(app.config["URL"]).rstrip("/")
    app.config["SESSION_COOKIE_SECURE"] = app.config["URL"].startswith("https://")

    credentials = read_client_file(Path(app.config["CLIENT_FILE"]))
    oauth = OAuth(app)
    app.extensions[CLIENT_KEY] = oauth.register(
        "clef",
        client_id=credentials["client_id"],
        client_secret=credentials["client_secret"],
        server_metadata_url=app.config["ISSUER"] + "/.well-known/openid-configuration",
        client_kwargs={"scope": "openid", "code_challenge_method": "S256",
                       "token_endpoint_auth_method": "client_secret_basic"},
    )
    app.extensions[STORE_KEY] = SessionStore(Path(app.config["STORE"]),
                                             float(app.config["SESSION_HOURS"]) * 3600)
    csrf = CSRFProtect(app)

    from examples.employer_portal import views

    app.register_blueprint(views.bp)
    csrf.exempt(views.backchannel_logout)  # Clef's server posts it, with a signed token
    return app
