"""The admin CLI (``clef users|sessions|audit|db``): what each command does, that every
admin action is audited with ``admin:<os user>`` (S28), that sessions end at once (S22,
J12), that no command touches a password (S5), and that the console script works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import inspect

from idp import audit
from idp.models import REVOKED, EmailCode
from tests.helpers import (
    audit_events,
    create_account,
    csrf,
    current_totp,
    emailed_code,
    get_account,
    outbox,
    register,
    run_cli,
    session_token,
    set_session_token,
    sign_in,
)

ADMIN = "admin:opal"
CLEF_SCRIPT = Path(sys.executable).with_name("clef")


@pytest.fixture(autouse=True)
def os_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """getpass.getuser() reads LOGNAME first: the CLI's actor becomes admin:opal."""
    monkeypatch.setenv("LOGNAME", "opal")


def signed_in(app: Flask, username: str) -> FlaskClient:
    """A client past the password step (the furthest the core goes before the 2FA)."""
    client = app.test_client()
    assert sign_in(client, username).status_code == 303
    assert client.get("/2fa/challenge").status_code == 200
    return client


def is_anonymous(client: FlaskClient) -> bool:
    """The pending step is refused: the cookie no longer leads to a session."""
    response = client.get("/2fa/challenge")
    return response.status_code == 303 and "/signin" in response.headers["Location"]


def session_count(app: Flask, username: str) -> int:
    svc = app.extensions["clef"]
    account = get_account(app, username)
    assert account is not None
    db = svc.session_factory()
    try:
        return svc.sessions.count_for_account(db, account.id)
    finally:
        db.close()


# --- users list / show -------------------------------------------------------------------


def test_users_list_shows_name_status_and_last_use(app, clock):
    create_account(app, "alice")
    clock.advance(days=3)
    create_account(app, "bob")
    assert run_cli(app, "users", "revoke", "bob", "--reason", "other").exit_code == 0

    result = run_cli(app, "users", "list")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines == ["alice\tactive\tlast used 2026-01-05", "bob\trevoked\tlast used 2026-01-08"]
    assert "(2 accounts in all)" in result.stderr
    revoked_only = run_cli(app, "users", "list", "--status", "revoked").stdout.splitlines()
    assert revoked_only == ["bob\trevoked\tlast used 2026-01-08"]
    listed = audit_events(app, audit.ADMIN_LIST)
    assert [(e.actor, e.details) for e in listed] == [
        (ADMIN, {"status": "all"}), (ADMIN, {"status": "revoked"}),
    ]


def test_users_show_prints_facts_never_a_hash_or_code_S5(app, client):
    """show says what a help desk needs (J13) and nothing secret: no password hash, no
    emailed code or its hash, no throttle key."""
    register(client, "alice", email_address="alice@example.com")
    code = emailed_code(outbox(app)[-1])
    sign_in(app.test_client(), "alice", "not the password at all")

    result = run_cli(app, "users", "show", "ALICE")

    assert result.exit_code == 0, result.output
    out = result.output
    assert "username         alice" in out
    assert "status           active" in out
    assert "recovery email   not confirmed" in out
    assert "failed attempts  1" in out
    assert "sessions         1" in out
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        account = svc.accounts.get_by_username(db, "alice")
        row = db.get(EmailCode, (account.id, "confirm_email"))
        secrets_ = [account.password_hash, row.code_hash, code, "$argon2",
                    svc.throttle.key_for("alice")]
    finally:
        db.close()
    for secret in secrets_:
        assert secret not in out
    viewed = audit_events(app, audit.ADMIN_VIEW)
    assert [(e.actor, e.account_id) for e in viewed] == [(ADMIN, account.id)]


def test_users_show_unknown_name_fails(app):
    result = run_cli(app, "users", "show", "nobody")
    assert result.exit_code == 1
    assert "no account named 'nobody'" in result.output


# --- users unlock ------------------------------------------------------------------------


def test_unlock_lifts_a_lock_and_is_audited_D4_S28(app, client):
    create_account(app, "alice")
    for _ in range(5):
        assert sign_in(client, "alice", "wrong password here").status_code == 401
    assert sign_in(client, "alice").status_code == 429  # locked, right password or not

    result = run_cli(app, "users", "unlock", "alice")

    assert result.exit_code == 0, result.output
    assert "alice: unlocked" in result.output
    assert sign_in(client, "alice").status_code == 303
    event = audit_events(app, audit.ADMIN_UNLOCK)[-1]
    assert event.actor == ADMIN
    assert event.account_id == get_account(app, "alice").id
    assert event.details == {"had_failures": True}


def test_unlock_works_for_any_username_D4(app, client):
    """Counters exist for unknown names too (D4); unlocking one says so, no error."""
    result = run_cli(app, "users", "unlock", "ghost")
    assert result.exit_code == 0
    assert "ghost: was not locked" in result.output
    event = audit_events(app, audit.ADMIN_UNLOCK)[-1]
    assert (event.actor, event.account_id) == (ADMIN, None)


# --- users revoke ------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["compromised", "other"])
def test_revoke_ends_every_session_at_once_J12_S21(app, reason):
    create_account(app, "alice")
    create_account(app, "bob")
    laptop, phone = signed_in(app, "alice"), signed_in(app, "alice")
    bob = signed_in(app, "bob")
    old_cookie = session_token(app, laptop)

    result = run_cli(app, "users", "revoke", "alice", "--reason", reason)

    assert result.exit_code == 0, result.output
    assert f"alice: revoked ({reason}); 2 session(s) ended" in result.output
    assert is_anonymous(laptop)
    assert is_anonymous(phone)
    assert not is_anonymous(bob)
    replay = app.test_client()
    set_session_token(app, replay, old_cookie)
    assert is_anonymous(replay)
    assert session_count(app, "alice") == 0
    account = get_account(app, "alice")
    assert (account.status, account.revoked_reason) == (REVOKED, reason)
    event = audit_events(app, audit.ADMIN_REVOKE)[-1]
    assert event.actor == ADMIN
    assert event.account_id == account.id
    assert event.details == {"reason": reason, "sessions_ended": 2}


def test_revoked_account_cannot_sign_in_and_is_told_to_register_again_J12(app, client):
    create_account(app, "alice")
    run_cli(app, "users", "revoke", "alice", "--reason", "compromised")

    right = sign_in(client, "alice")

    assert right.status_code == 403
    page = right.get_data(as_text=True)
    assert "Username and password revoked" in page
    assert "register a new username and password" in page
    assert 'href="/register"' in page
    assert session_token(app, client) is None or is_anonymous(client)


def test_revoked_page_tells_nothing_to_a_stranger_J12_S6(app):
    """A wrong password for a revoked account gets the ordinary answer, the same as for
    an unknown username: only the holder of the password learns it is revoked."""
    create_account(app, "alice")
    run_cli(app, "users", "revoke", "alice", "--reason", "compromised")

    wrong = sign_in(app.test_client(), "alice", "a wrong password")
    unknown = sign_in(app.test_client(), "nobody-here", "a wrong password")

    assert wrong.status_code == unknown.status_code == 401
    for response in (wrong, unknown):
        text = response.get_data(as_text=True)
        assert "The username or password is not correct." in text
        assert "revoked" not in text.lower()


def test_revoke_twice_or_as_inactive_is_refused(app):
    create_account(app, "alice")
    assert run_cli(app, "users", "revoke", "alice", "--reason", "inactive").exit_code == 2
    assert get_account(app, "alice").status == "active"
    assert run_cli(app, "users", "revoke", "alice", "--reason", "other").exit_code == 0
    again = run_cli(app, "users", "revoke", "alice", "--reason", "other")
    assert again.exit_code == 1
    assert "already revoked" in again.output
    assert len(audit_events(app, audit.ADMIN_REVOKE)) == 1


# --- sessions end ------------------------------------------------------------------------


def test_sessions_end_one_person_then_everyone_S22(app):
    create_account(app, "alice")
    create_account(app, "bob")
    alice, bob = signed_in(app, "alice"), signed_in(app, "bob")

    one = run_cli(app, "sessions", "end", "alice")

    assert one.exit_code == 0, one.output
    assert "1 session(s) ended" in one.output
    assert is_anonymous(alice)
    assert not is_anonymous(bob)
    assert get_account(app, "alice").status == "active"  # ending sessions is not revoking
    assert signed_in(app, "alice")

    everyone = run_cli(app, "sessions", "end", "--all")

    assert everyone.exit_code == 0, everyone.output
    assert "2 session(s) ended" in everyone.output
    assert is_anonymous(bob)
    events = audit_events(app, audit.ADMIN_SESSIONS_END)
    alice_id = get_account(app, "alice").id
    assert [(e.actor, e.account_id, e.details) for e in events] == [
        (ADMIN, alice_id, {"sessions_ended": 1}),
        (ADMIN, None, {"scope": "all", "sessions_ended": 2}),
    ]


def test_sessions_end_needs_exactly_one_target(app):
    create_account(app, "alice")
    assert run_cli(app, "sessions", "end").exit_code == 2
    assert run_cli(app, "sessions", "end", "alice", "--all").exit_code == 2
    assert run_cli(app, "sessions", "end", "nobody").exit_code == 1
    assert audit_events(app, audit.ADMIN_SESSIONS_END) == []


def test_sessions_purge_deletes_only_expired_rows_S22(app, clock):
    create_account(app, "alice")
    create_account(app, "bob")
    signed_in(app, "alice")
    clock.advance(minutes=21)  # alice's session is past the idle limit (D5)
    bob = signed_in(app, "bob")

    result = run_cli(app, "sessions", "purge")

    assert result.exit_code == 0, result.output
    assert "1 expired session(s) deleted" in result.output
    assert session_count(app, "alice") == 0
    assert session_count(app, "bob") == 1
    assert not is_anonymous(bob)
    event = audit_events(app, audit.ADMIN_SESSIONS_PURGE)[-1]
    assert (event.actor, event.details) == (ADMIN, {"purged": 1})


# --- audit tail --------------------------------------------------------------------------


def test_audit_tail_lists_events_newest_last_S28(app, clock):
    create_account(app, "alice")                      # 09:00 register
    clock.advance(minutes=1)
    sign_in(app.test_client(), "alice", "wrong password here", **{"User-Agent": "probe"})
    clock.advance(minutes=1)
    create_account(app, "bob")                        # 09:02 register
    clock.advance(minutes=1)
    run_cli(app, "users", "unlock", "alice")          # 09:03 admin unlock

    result = run_cli(app, "audit", "tail")

    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.output.splitlines()]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("2026-01-05T09:00:00Z", audit.REGISTERED, "alice"),
        ("2026-01-05T09:01:00Z", audit.LOGIN_FAILURE, "alice"),
        ("2026-01-05T09:02:00Z", audit.REGISTERED, "bob"),
        ("2026-01-05T09:03:00Z", audit.ADMIN_UNLOCK, ADMIN),
    ]
    assert rows[1][3] == "127.0.0.1"
    last_two = run_cli(app, "audit", "tail", "-n", "2").output.splitlines()
    assert [line.split("\t")[1] for line in last_two] == [audit.REGISTERED, audit.ADMIN_UNLOCK]
    alices = run_cli(app, "audit", "tail", "--user", "alice").output.splitlines()
    assert [line.split("\t")[1] for line in alices] == [
        audit.REGISTERED, audit.LOGIN_FAILURE, audit.ADMIN_UNLOCK,
    ]


# --- db upgrade --------------------------------------------------------------------------


def test_db_upgrade_is_idempotent_on_the_configured_database(app):
    result = run_cli(app, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert "database at the newest schema" in result.output


def test_db_upgrade_creates_a_fresh_database(make_app, tmp_path, backend):
    if backend != "sqlite":
        pytest.skip("a fresh file database; the PostgreSQL one is migrated by conftest")
    url = f"sqlite:///{tmp_path / 'fresh' / 'clef.sqlite3'}"
    fresh = make_app(database={"url": url})

    result = run_cli(fresh, "db", "upgrade")

    assert result.exit_code == 0, result.output
    tables = set(inspect(fresh.extensions["clef"].engine).get_table_names())
    assert {"accounts", "sessions", "login_throttles", "email_codes", "audit_events"} <= tables


# --- S5: no command sets a password ------------------------------------------------------


def test_no_admin_command_sets_a_password_S5(app):
    def walk(command, path=()):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, (*path, name))

    ours = {"users", "sessions", "audit", "db"}
    for path, command in walk(app.cli):
        if not path or path[0] not in ours:
            continue
        names = [" ".join(path)] + [p.name or "" for p in command.params]
        assert not any("password" in n or "passwd" in n for n in names), path


# --- the console script ------------------------------------------------------------------


@pytest.mark.process
def test_console_script_runs_as_a_real_process(tmp_path):
    """``clef`` (pyproject's console script) on the embedded default: migrates, lists,
    and fails cleanly on an unknown name. Its instance folder is a temporary one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env["IDP_SERVICE__INSTANCE_DIR"] = str(tmp_path / "instance")
    env["LOGNAME"] = "opal"

    def clef(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CLEF_SCRIPT), *args], env=env, cwd=tmp_path, capture_output=True,
            text=True, timeout=60, check=False,
        )

    upgraded = clef("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "database at the newest schema" in upgraded.stdout
    listed = clef("users", "list")
    assert listed.returncode == 0, listed.stderr
    assert "(0 accounts in all)" in listed.stderr
    missing = clef("users", "show", "nobody")
    assert missing.returncode == 1
    assert "no account named 'nobody'" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert (tmp_path / "instance" / "clef.sqlite3").is_file()
    secret = tmp_path / "instance" / "secret_key"
    assert secret.stat().st_mode & 0o777 == 0o600



def test_users_show_counts_wrong_second_factor_codes_apart_S7(app):
    """The help desk sees both counts: the password step's and the code step's (D4)."""
    create_account(app, "alice")
    client = app.test_client()
    sign_in(client, "alice")
    client.post("/2fa/challenge", data={"csrf_token": csrf(client, "/2fa/challenge"),
                                        "code": "000000" if current_totp(app) != "000000" else "111111"})
    out = run_cli(app, "users", "show", "alice").output
    assert "failed attempts  0" in out
    assert "failed codes     1" in out
