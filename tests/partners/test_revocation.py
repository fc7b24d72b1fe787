"""J14: ``clef users revoke`` works for a partner identity (by the name ``users list``
shows); its sessions end and the partner can no longer sign it in. The inactivity
sweep sees it like any account (its last use is each partner sign-in)."""

from __future__ import annotations

from flask import Flask

from tests.partners.conftest import Partner, at_partner, path_of, start_trip
from tests.support.accounts import create_account
from tests.support.app import run_cli


def test_j14_revoke_a_partner_identity(app: Flask, bank: Partner) -> None:
    create_account(bank.app, "bob")
    browser = app.test_client()
    assert browser.get(path_of(at_partner(bank, start_trip(browser, bank), "bob"))).status_code == 303
    listed = run_cli(app, "users", "list").output
    name = next(word for word in listed.split() if word.startswith("~partner-"))
    result = run_cli(app, "users", "revoke", name, "--reason", "compromised")
    assert result.exit_code == 0, result.output
    assert "1 session(s) ended" in result.output
    assert browser.get("/account").status_code in (302, 303)
    again = app.test_client()
    refused = again.get(path_of(at_partner(bank, start_trip(again, bank), "bob")))
    assert refused.status_code == 403
    page = refused.get_data(as_text=True)
    # Worded for the partner door, not the username-and-password one.
    assert "Sign-in through a partner revoked" in page
    assert "The identity you reach through Banque Exemple has been revoked" in page
    assert "username and password have been revoked" not in page
    assert "/partners/" in page and "/register" in page


def test_j14_the_revoked_page_speaks_french_for_a_partner_identity(app: Flask, bank: Partner) -> None:
    create_account(bank.app, "bob")
    browser = app.test_client()
    assert browser.get(path_of(at_partner(bank, start_trip(browser, bank), "bob"))).status_code == 303
    name = next(w for w in run_cli(app, "users", "list").output.split() if w.startswith("~partner-"))
    assert run_cli(app, "users", "revoke", name, "--reason", "compromised").exit_code == 0
    again = app.test_client()
    again.get("/language/fr")
    refused = again.get(path_of(at_partner(bank, start_trip(again, bank), "bob")))
    assert refused.status_code == 403
    page = refused.get_data(as_text=True)
    assert "Connexion par un partenaire révoquée" in page
    assert "L'identité à laquelle vous accédez par Banque Exemple a été révoquée" in page \
        or "L&#39;identité à laquelle vous accédez par Banque Exemple a été révoquée" in page
    assert "nom d&#39;utilisateur et ce mot de passe ont été révoqués" not in page
    assert "Choisir un autre partenaire de connexion" in page


def test_j14_the_inactivity_sweep_covers_partner_identities(app: Flask, bank: Partner) -> None:
    create_account(bank.app, "bob")
    browser = app.test_client()
    assert browser.get(path_of(at_partner(bank, start_trip(browser, bank), "bob"))).status_code == 303
    app.extensions["clef"].clock.advance(days=800)
    planned = run_cli(app, "users", "sweep-inactive", "--dry-run").output
    assert "~partner-" in planned
