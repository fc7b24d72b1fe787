"""Forgot username (J6) through the Flask test client, on both storage modes: the mail
holds every username of the address, only confirmed addresses count, limits per client
address and per address asked about (D4)."""

from __future__ import annotations

from idp import audit
from tests.helpers import audit_tags, body_of, create_account, csrf, decoded_header, outbox, run_cli
from tests.recovery.flows import text

ADDRESS = "Alice@Example.org"


def ask(client, address: str, **environ: str):
    token = csrf(client, "/forgot-username")
    return client.post("/forgot-username", data={"csrf_token": token, "email": address},
                       environ_base=dict(environ))


def test_every_username_of_the_address_is_sent_J6(app):
    create_account(app, "alice", email_address=ADDRESS, confirmed=True)
    create_account(app, "alice-work", email_address="alice@example.org", confirmed=True)
    create_account(app, "bertrand", email_address="bertrand@example.org", confirmed=True)
    client = app.test_client()
    page = text(client.get("/forgot-username"))
    assert "Step 1 of 2" in page and "No recovery email?" in page
    response = ask(client, "  ALICE@example.ORG ")
    assert response.status_code == 303
    page = text(client.get(response.headers["Location"]))
    assert "Step 2 of 2" in page and "ALICE@example.ORG" in page
    assert "If the email does not arrive" in page
    (mail,) = outbox(app)
    body = body_of(mail)
    assert "alice\n" in body and "alice-work" in body and "bertrand" not in body
    assert "http://127.0.0.1:5000/signin" in body  # S17: the configured base URL
    assert "username" in decoded_header(mail, "Subject")
    assert audit.RECOVERY_USERNAME_ASKED in audit_tags(app)


def test_an_unconfirmed_address_gets_nothing_J6(app):
    create_account(app, "alice", email_address=ADDRESS, confirmed=False)
    assert ask(app.test_client(), ADDRESS).status_code == 303
    assert outbox(app) == []


def test_a_revoked_username_is_listed_as_revoked_S19(app):
    create_account(app, "alice", email_address=ADDRESS, confirmed=True)
    assert run_cli(app, "users", "revoke", "alice", "--reason", "compromised").exit_code == 0
    ask(app.test_client(), ADDRESS)
    body = body_of(outbox(app)[0])
    assert "alice (revoked: it can no longer be used or recovered)" in body


def test_a_malformed_address_is_refused_with_a_reason(app):
    response = ask(app.test_client(), "not an address")
    assert response.status_code == 400
    assert "Enter an email address such as name@example.com." in text(response)


def test_limited_per_address_asked_about_from_any_client_D4(make_app):
    app = make_app(rate_limit={"forgot_username_per_address": "2/hour"})
    create_account(app, "alice", email_address=ADDRESS, confirmed=True)
    for ip in ("198.51.100.1", "198.51.100.2"):
        assert ask(app.test_client(), ADDRESS, REMOTE_ADDR=ip).status_code == 303
    refused = ask(app.test_client(), "alice@EXAMPLE.org", REMOTE_ADDR="198.51.100.3")
    assert refused.status_code == 429
    # The same answer for an address nobody registered (S6), and others are unaffected.
    for ip in ("198.51.100.4", "198.51.100.5"):
        ask(app.test_client(), "nobody@example.org", REMOTE_ADDR=ip)
    assert ask(app.test_client(), "nobody@example.org", REMOTE_ADDR="198.51.100.6").status_code == 429
    assert ask(app.test_client(), "other@example.org", REMOTE_ADDR="198.51.100.7").status_code == 303
    assert len(outbox(app)) == 2


def test_limited_per_client_address_D4(make_app):
    app = make_app(rate_limit={"forgot_username_per_ip": "2/minute"})
    client = app.test_client()
    for n in range(2):
        assert ask(client, f"person{n}@example.org").status_code == 303
    assert ask(client, "person9@example.org").status_code == 429


def test_the_sent_page_needs_a_request_first(app):
    response = app.test_client().get("/forgot-username/sent")
    assert response.status_code == 303
    assert response.headers["Location"] == "/forgot-username"
