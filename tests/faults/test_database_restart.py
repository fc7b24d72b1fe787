"""PostgreSQL restarted while Clef serves (issue 9, faults): while it is down every
request gets the "technical difficulties" page in the person's language, as a 503 with
Retry-After, never a 500 or a trace; once it is back the same app, not restarted,
answers again, and the person's server-side session survived.

Runs against a cluster of its own (tests.faults.own_services), stopped and started by
the test; about 5 seconds, most of it initdb."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from idp.app import create_app
from idp.clock import FrozenClock
from idp.migrate import upgrade
from tests.conftest import CHEAP_ARGON2, TEST_SECRET
from tests.faults.own_services import OwnPostgres
from tests.helpers import create_account, run_cli, sign_in


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    cluster = OwnPostgres()
    try:
        yield cluster
    finally:
        cluster.close()


def _page(response) -> str:
    return response.get_data(as_text=True)


def test_a_restarted_database_gives_503_then_clef_recovers_alone(own_postgres: OwnPostgres,
                                                                tmp_path: Path, caplog):
    upgrade(own_postgres.url)
    app = create_app({"service": {"secret_key": TEST_SECRET, "instance_dir": str(tmp_path)},
                      "database": {"url": own_postgres.url}, "argon2": CHEAP_ARGON2},
                     clock=FrozenClock())
    app.config["TESTING"] = True
    try:
        create_account(app, "alice")
        client = app.test_client()
        assert sign_in(client, "alice").status_code == 303
        assert client.get("/2fa/challenge").status_code == 200  # the session, from the database

        own_postgres.stop()
        down = client.get("/2fa/challenge")
        assert down.status_code == 503 and down.headers["Retry-After"] == "30"
        assert "Technical difficulties" in _page(down)
        assert "Traceback" not in _page(down) and "psycopg" not in _page(down)
        french = client.get("/signin", headers={"Accept-Language": "fr"})
        assert french.status_code == 503 and "Difficultés techniques" in _page(french)
        posted = client.post("/signin", data={"username": "alice", "password": "x"})
        assert posted.status_code == 503
        assert run_cli(app, "oidc", "deliver").exit_code != 0  # one pass fails, says so

        own_postgres.start()
        assert client.get("/2fa/challenge").status_code == 200  # the same app, same session

        own_postgres.stop()  # a restart with no request while it was down:
        own_postgres.start()  # every pooled connection is dead, and is replaced unseen
        assert client.get("/2fa/challenge").status_code == 200
        assert run_cli(app, "oidc", "deliver").exit_code == 0
    finally:
        app.extensions["clef"].engine.dispose()
    assert not [r for r in caplog.records if r.getMessage() == "unhandled error"]  # not a bug
    assert "unavailable: answered 503" in caplog.text


def test_the_worker_outlives_a_database_outage(app, monkeypatch, caplog):
    """`clef oidc worker` skips a pass the database cannot serve and tries again the next,
    rather than stopping (then nothing would end sessions or send mail until restarted)."""
    from sqlalchemy.exc import OperationalError

    import idp.oidc.cli as worker_cli

    calls: list[int] = []

    def run_once() -> tuple[int, int]:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))
        raise KeyboardInterrupt  # the second pass happened: stop the loop here

    monkeypatch.setattr(worker_cli, "run_once", run_once)
    monkeypatch.setattr(worker_cli.signal, "signal", lambda *_args: None)  # keep pytest's
    app.test_cli_runner().invoke(args=["oidc", "worker", "--every", "0"])
    assert len(calls) == 2
    assert "worker pass skipped: database unavailable (OperationalError)" in caplog.text
