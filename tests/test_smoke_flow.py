"""First end-to-end check of the core through the Flask test client."""

from __future__ import annotations

from tests.helpers import create_account, sign_in


def test_sign_in_reaches_second_factor_step_J1(app, client):
    create_account(app, "alice")
    response = sign_in(client, "ALICE")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/2fa/challenge")
    page = client.get("/2fa/challenge")
    assert page.status_code == 200
