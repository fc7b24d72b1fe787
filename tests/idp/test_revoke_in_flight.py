"""J12, S21: `clef users revoke` ends every session at once, a sign-in in flight's too.
The password step read the account as active, the revocation committed while argon2id
ran, then the step committed its pending session; nothing later asked whether the
account was still active, so the second factor signed a revoked account in. A session
whose account the read finds revoked now ends there, unused. The test failed before
(found by an adversarial review)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask

from idp.models import REVOKED
from tests.helpers import create_account, csrf_from, fresh_totp, get_account, run_cli, sign_in


@pytest.fixture(autouse=True)
def os_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNAME", "opal")


def _session_count(app: Flask, username: str) -> int:
    svc = app.extensions["clef"]
    account = get_account(app, username)
    with svc.session_factory() as db:
        return int(svc.sessions.count_for_account(db, account.id))


def test_j12_a_revocation_during_the_password_step_leaves_no_session(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    create_account(app, "alice")
    svc = app.extensions["clef"]
    real = svc.accounts.hasher
    results: list[Any] = []

    class RevokedMeanwhile:
        """argon2id, with the administrator's revocation committed while it runs."""

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def verify(self, stored: str, password: str) -> Any:
            check = real.verify(stored, password)
            if not results:
                worker = threading.Thread(target=lambda: results.append(
                    run_cli(app, "users", "revoke", "alice", "--reason", "compromised")))
                worker.start()
                worker.join()
            return check

    monkeypatch.setattr(svc.accounts, "hasher", RevokedMeanwhile())
    client = app.test_client()
    assert sign_in(client, "alice").status_code == 303  # the step had read her as active
    assert results and results[0].exit_code == 0, results[0].output if results else "no revoke"
    assert get_account(app, "alice").status == REVOKED

    page = client.get("/2fa/challenge")
    assert page.status_code == 303 and "/signin" in page.headers["Location"]
    client.post("/2fa/challenge", data={"csrf_token": csrf_from(client.get("/signin")),
                                        "code": fresh_totp(app, "alice")})
    assert client.get("/account").status_code == 303
    assert _session_count(app, "alice") == 0
