"""D7: the inactivity sweep reads each planned account again, locked, before it revokes
it: someone who signed in while the sweep ran (its reminders are mail, one exchange
each) keeps their credential. The test failed before, when the sweep revoked from the
objects read at its start. Found by an adversarial review."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask

import idp.cli as cli
from idp.clock import FrozenClock
from idp.models import ACTIVE
from tests.helpers import create_account, get_account, pass_second_factor, run_cli, sign_in


@pytest.fixture(autouse=True)
def os_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNAME", "opal")


def test_d7_a_sign_in_during_the_sweep_keeps_the_credential(
        app: Flask, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch) -> None:
    create_account(app, "alice")
    clock.advance(days=731)
    real_plan = cli.plan_inactivity_sweep
    errors: list[BaseException] = []

    def plan_then_alice_signs_in(*args: Any, **kwargs: Any) -> Any:
        plan = real_plan(*args, **kwargs)
        assert [a.username for a in plan.revocations] == ["alice"]

        def browse() -> None:
            try:
                browser = app.test_client()
                assert sign_in(browser, "alice").status_code == 303
                pass_second_factor(app, browser, "alice")
            except BaseException as error:  # reported below
                errors.append(error)

        person = threading.Thread(target=browse)
        person.start()
        person.join()
        return plan

    monkeypatch.setattr(cli, "plan_inactivity_sweep", plan_then_alice_signs_in)
    result = run_cli(app, "users", "sweep-inactive")
    assert not errors, errors
    assert result.exit_code == 0, result.output
    assert "keep alice" in result.output
    alice = get_account(app, "alice")
    assert alice.last_used_at == clock.now() and alice.status == ACTIVE


def test_d7_an_account_still_unused_is_revoked(app: Flask, clock: FrozenClock) -> None:
    create_account(app, "bob")
    clock.advance(days=731)
    result = run_cli(app, "users", "sweep-inactive")
    assert "revoke bob" in result.output
    assert get_account(app, "bob").status != ACTIVE
