"""The embedded mode's instance folder is the service's alone: 0700, and every file in
it (the SQLite database with its WAL and shared-memory files, the generated secret, the
outbox mail that holds codes) 0600, at creation and again at start if looser."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from idp.app import create_app
from idp.clock import FrozenClock
from idp.mail import OutgoingMail
from tests.conftest import CHEAP_ARGON2
from tests.helpers import create_account, run_cli


@pytest.fixture(autouse=True)
def usual_umask() -> object:
    """The umask most systems start services with: files 0644 unless Clef says so."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _embedded(folder: Path):
    overrides = {"service": {"instance_dir": str(folder), "secret_key": ""},
                 "database": {"url": ""}, "argon2": CHEAP_ARGON2}
    app = create_app(overrides, clock=FrozenClock())
    app.config["TESTING"] = True
    return app


def _modes(folder: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(folder.stat().st_mode)}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            found[str(path.relative_to(folder))] = stat.S_IMODE(path.stat().st_mode)
    return found


def _use(app) -> None:
    """Migrate, write through the app (WAL and shared memory appear), send a mail."""
    assert run_cli(app, "db", "upgrade").exit_code == 0
    create_account(app, "alice")
    svc = app.extensions["clef"]
    svc.mailer.send(OutgoingMail(to="alice@example.ca", subject="Code", text="123456"),
                    svc.clock.now())


def test_instance_folder_and_files_are_private_from_creation(tmp_path):
    folder = tmp_path / "instance"
    app = _embedded(folder)
    _use(app)
    engine = app.extensions["clef"].engine
    with engine.connect():  # the WAL and shared-memory files exist while connected
        modes = _modes(folder)
    engine.dispose()
    names = set(modes)
    assert {"clef.sqlite3", "clef.sqlite3-wal", "clef.sqlite3-shm", "secret_key",
            "outbox"} <= names
    assert any(name.startswith("outbox/") and name.endswith(".eml") for name in names)
    dirs = {".", "outbox"}
    assert {name: mode for name, mode in modes.items() if name in dirs} == {
        ".": 0o700, "outbox": 0o700}
    assert {name: mode for name, mode in modes.items() if name not in dirs} == {
        name: 0o600 for name in names - dirs}


def test_looser_modes_are_fixed_at_start(tmp_path):
    folder = tmp_path / "instance"
    _use(_embedded(folder))
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    (folder / "copied-by-hand.txt").write_text("anything written there")
    (folder / "copied-by-hand.txt").chmod(0o666)
    app = _embedded(folder)
    modes = _modes(folder)
    app.extensions["clef"].engine.dispose()
    assert all(mode == (0o700 if (folder / name).is_dir() else 0o600)
               for name, mode in modes.items()), modes
    assert modes["copied-by-hand.txt"] == 0o600


def test_the_sample_portals_session_store_is_private_too(tmp_path):
    from examples.employer_portal.sessions import SessionStore

    path = tmp_path / "instance" / "employer_portal.sqlite3"
    SessionStore(path, 3600)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
