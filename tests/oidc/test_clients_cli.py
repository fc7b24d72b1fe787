"""``clef clients``: portals registered by an administrator; redirect URIs checked
(RFC 9700 §2.1, S31), the secret shown once and kept hashed, rotated, removed."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.oidc.models import OAuthClient
from tests.helpers import run_cli
from tests.oidc.conftest import full_flow
from tests.oidc.rp import RelyingParty, register_client


@pytest.mark.parametrize(("uri", "why"), [
    ("http://portal.example/cb", "http only on a loopback host"),
    ("https://portal.example/cb#frag", "must not have a fragment"),
    ("https://portal.example/cb#", "must not have a fragment"),
    ("portal.example/cb", "absolute https URL"),
    ("javascript:alert(1)", "absolute https URL"),
])
def test_bad_redirect_uris_are_refused_and_nothing_is_saved_S31(app, uri, why):
    result = run_cli(app, "clients", "add", "--name", "P", "--redirect-uri", uri)
    assert result.exit_code != 0 and why in result.output
    assert run_cli(app, "clients", "list").output == ""


def test_loopback_http_is_accepted_for_development(app):
    for uri in ("http://127.0.0.1:5001/callback", "http://localhost:8080/cb", "http://[::1]:9/cb"):
        assert run_cli(app, "clients", "add", "--name", "Dev", "--redirect-uri", uri).exit_code == 0


def test_several_hosts_need_a_sector_S45(app):
    two = ["--redirect-uri", "https://a.example/cb", "--redirect-uri", "https://b.example/cb"]
    refused = run_cli(app, "clients", "add", "--name", "P", *two)
    assert refused.exit_code != 0 and "--sector" in refused.output
    assert run_cli(app, "clients", "add", "--name", "P", *two, "--sector", "example").exit_code == 0


def test_the_secret_is_shown_once_and_stored_hashed(app):
    client_id, secret = register_client(app, "--name", "P", "--redirect-uri", "https://p.example/cb")
    assert secret and len(secret) >= 40
    shown = run_cli(app, "clients", "show", client_id).output
    assert secret not in shown and "confidential" in shown and "pairwise" in shown
    db = app.extensions["clef"].session_factory()
    try:
        stored = db.scalars(select(OAuthClient)).one()
        assert secret not in (stored.secret_hash or "")
    finally:
        db.close()


def test_rotate_secret_kills_the_old_one_at_once_S41(app, alice):
    client_id, old = register_client(app, "--name", "P", "--redirect-uri", "https://p.example/cb",
                                     "--trusted")
    result = run_cli(app, "clients", "rotate-secret", client_id)
    assert result.exit_code == 0
    new = result.output.split()[-1]
    assert new != old
    full_flow(RelyingParty(app, client_id, new, "https://p.example/cb"))
    with pytest.raises(AssertionError):
        full_flow(RelyingParty(app, client_id, old, "https://p.example/cb"))


def test_remove_makes_the_client_unknown(app):
    client_id, _ = register_client(app, "--name", "P", "--redirect-uri", "https://p.example/cb")
    assert run_cli(app, "clients", "remove", client_id).exit_code == 0
    assert run_cli(app, "clients", "show", client_id).exit_code != 0
    response = app.test_client().get(f"/authorize?response_type=code&client_id={client_id}"
                                     "&redirect_uri=https://p.example/cb&scope=openid")
    assert response.status_code == 400 and "Location" not in response.headers


def test_public_clients_have_no_secret_to_rotate(app):
    client_id, secret = register_client(app, "--name", "App", "--redirect-uri",
                                        "http://127.0.0.1:9/cb", "--public")
    assert secret is None
    result = run_cli(app, "clients", "rotate-secret", client_id)
    assert result.exit_code != 0 and "no secret" in result.output
