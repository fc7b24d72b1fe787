"""The challenge made cheaper (issue 11) and abused where it changed: the factor and the
count of keys read in one statement (``SecondFactors.get_challenge``, compared with the
ORM's two reads), and the code's check in one transaction with its attempt's count
(``Throttle.claim_with_check``; on PostgreSQL an app's code is claimed alone and its
success written in one statement, mfa.second_step_writes): a wrong code, a lock, a
check that ends in an error, the step after the pending session timed out, another
person's pending step."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from idp import audit
from idp.audit import Where
from idp.sessions import PASSWORD
from idp.throttle import SECOND_FACTOR_STEP
from mfa import events
from mfa.checkers import Attempt, WrongCode
from mfa.models import SecondFactor, SecurityKey
from mfa.runtime import EXTENSION_KEY
from tests.helpers import audit_events, create_account, csrf, current_totp, get_account, sign_in
from tests.mfa.flows import factor_of, session_row
from tests.perf.round_trips import round_trips


def failures(app: Flask, username: str) -> int:
    svc = app.extensions["clef"]
    with svc.session_factory() as db:
        key = get_account(app, username).username_key
        return svc.throttle.state(db, key, SECOND_FACTOR_STEP).failures


def post_code(client: Any, code: str) -> Any:
    return client.post("/2fa/challenge", data={"csrf_token": csrf(client, "/2fa/challenge"),
                                               "code": code})


def commits_during(app: Flask, call: Any) -> tuple[Any, int]:
    engine = app.extensions["clef"].engine
    seen: list[int] = []

    def on_commit(*_args: object) -> None:
        seen.append(1)

    event.listen(engine, "commit", on_commit)
    try:
        return call(), len(seen)
    finally:
        event.remove(engine, "commit", on_commit)


def second_steps_passed(app: Flask) -> list[Any]:
    return [e for e in audit_events(app, audit.LOGIN_SUCCESS)
            if e.details.get("step") == "second_factor"]


def add_key(app: Flask, account_id: int, credential: str) -> None:
    svc = app.extensions["clef"]
    with svc.session_factory() as db:
        db.add(SecurityKey(account_id=account_id, credential_id=credential, public_key=b"k",
                           sign_count=0, name="clé", synced=False, transports="usb",
                           created_at=svc.clock.now(), last_used_at=None))
        db.commit()


def every_kind_of_account(app: Flask) -> dict[str, int]:
    """Account ids by what the second step finds: an app (alice), email codes (bob), no
    factor (carol), keys alone (dave), keys beside an app (erin)."""
    ids = {
        "alice": create_account(app, "alice").id,
        "bob": create_account(app, "bob", email_address="bob@example.org", confirmed=True,
                              second_factor="email").id,
        "carol": create_account(app, "carol", second_factor=None).id,
        "dave": create_account(app, "dave", second_factor=None).id,
        "erin": create_account(app, "erin").id,
    }
    add_key(app, ids["dave"], "cred-1")
    add_key(app, ids["erin"], "cred-2")
    add_key(app, ids["erin"], "cred-3")
    return ids


def test_the_challenge_read_answers_as_the_two_reads_it_replaces(app: Flask) -> None:
    """Every combination: an app, email codes, no factor, keys beside a factor or alone,
    an account that does not exist."""
    ids = every_kind_of_account(app) | {"missing": 10_000}
    mfa = app.extensions[EXTENSION_KEY]
    columns = [c.key for c in SecondFactor.__table__.columns]
    with app.extensions["clef"].session_factory() as db:
        for name, account_id in ids.items():
            factor, keys = mfa.factors.get_challenge(db, account_id)
            expected = mfa.factors.get(db, account_id)
            assert keys == mfa.security_keys.count(db, account_id), name
            if expected is None:
                assert factor is None, name
                continue
            assert factor is not None and factor is not expected, name
            assert factor not in db, "a copy outside the session"
            assert [getattr(factor, c) for c in columns] == [
                getattr(expected, c) for c in columns], name


def test_a_wrong_code_is_counted_and_audited_in_one_commit_S7(app: Flask, backend: str) -> None:
    """SQLite: the claim and the failure in one commit. PostgreSQL: the claim alone (its
    own commit, in autocommit) and the failure's, in as many round trips as the one
    transaction took (BEGIN, claim, audit row, COMMIT: 4; mfa.second_step_writes)."""
    create_account(app, "alice")
    client = app.test_client()
    sign_in(client, "alice")
    token = csrf(client, "/2fa/challenge")
    wrong = f"{(int(current_totp(app)) + 1) % 10**6:06d}"
    with round_trips(app.extensions["clef"].engine) as trips:
        response, commits = commits_during(app, lambda: client.post(
            "/2fa/challenge", data={"csrf_token": token, "code": wrong}))
    assert response.status_code == 401
    if backend == "postgresql":
        assert commits == 2 and trips.total == 1 + 4, trips.log  # + the session with its factor
    else:
        assert commits == 1
    assert failures(app, "alice") == 1
    assert [e.tag for e in audit_events(app)].count(events.FAILURE) == 1
    assert factor_of(app, "alice").last_totp_step is None
    # An empty code is an attempt too (S7).
    assert post_code(client, "").status_code == 401 and failures(app, "alice") == 2


def test_locked_the_right_code_is_refused_and_not_counted_in_one_commit_D4(
        app: Flask, backend: str) -> None:
    create_account(app, "alice")
    client = app.test_client()
    sign_in(client, "alice")
    threshold = app.extensions["clef"].settings.lockout.threshold
    wrong = f"{(int(current_totp(app)) + 1) % 10**6:06d}"
    for _ in range(threshold):
        assert post_code(client, wrong).status_code == 401
    token = csrf(client, "/2fa/challenge")
    locked, commits = commits_during(app, lambda: client.post(
        "/2fa/challenge", data={"csrf_token": token, "code": current_totp(app)}))
    # The audit row of the refusal; on PostgreSQL after the refused claim's own (in
    # autocommit: no COMMIT sent for it).
    assert locked.status_code == 429 and commits == (2 if backend == "postgresql" else 1)
    assert failures(app, "alice") == threshold
    assert factor_of(app, "alice").last_totp_step is None
    assert session_row(app, client).level == PASSWORD


@pytest.mark.parametrize("where", ["check", "sign-in"])
def test_a_check_that_ends_in_an_error_still_counts_its_attempt_S7(
        app: Flask, where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The claim shares the check's transaction, so an error rolls it back: the attempt
    is counted again on its own, and a right code is not used up by a step that failed."""
    account = create_account(app, "alice")
    mfa = app.extensions[EXTENSION_KEY]
    svc = app.extensions["clef"]

    def broken(*_args: object) -> None:
        raise RuntimeError("the database went away")

    if where == "check":
        monkeypatch.setattr(type(mfa.second_step._checkers["totp"]), "verify", broken)
    with svc.session_factory() as db:
        factor = mfa.factors.get_challenge(db, account.id).factor
        assert factor is not None
        attempt = Attempt(account=get_account(app, "alice"), binding="b", where=Where())
        with pytest.raises(RuntimeError):
            mfa.second_step.verify_factor(db, attempt, factor, current_totp(app),
                                          svc.clock.now(), broken)
    assert failures(app, "alice") == 1
    assert factor_of(app, "alice").last_totp_step is None
    assert not second_steps_passed(app)


def test_a_wrong_code_through_the_service_raises_and_counts_once(app: Flask) -> None:
    account = create_account(app, "alice")
    mfa = app.extensions[EXTENSION_KEY]
    svc = app.extensions["clef"]
    with svc.session_factory() as db:
        factor = mfa.factors.get_challenge(db, account.id).factor
        assert factor is not None
        attempt = Attempt(account=get_account(app, "alice"), binding="b", where=Where())
        with pytest.raises(WrongCode):
            mfa.second_step.verify_factor(db, attempt, factor, "000000x", svc.clock.now(),
                                          lambda _amr: None)
    assert failures(app, "alice") == 1


def test_the_step_after_the_pending_session_timed_out_does_nothing_S20(app: Flask,
                                                                       clock: Any) -> None:
    create_account(app, "alice")
    client = app.test_client()
    sign_in(client, "alice")
    token = csrf(client, "/2fa/challenge")
    clock.advance(minutes=app.extensions["clef"].settings.session.idle_minutes + 1)
    late = client.post("/2fa/challenge", data={"csrf_token": token,
                                               "code": current_totp(app)})
    assert late.status_code in (303, 400) and "/2fa/done" not in late.headers.get("Location", "")
    assert failures(app, "alice") == 0
    assert factor_of(app, "alice").last_totp_step is None
    assert not second_steps_passed(app)


def test_another_persons_pending_step_reads_only_its_own_factor(app: Flask) -> None:
    """Bob at his second step posts the code of Alice's app (another secret): refused,
    counted on Bob, Alice's factor and count untouched."""
    create_account(app, "alice")
    create_account(app, "bob", second_factor="email", email_address="bob@example.org",
                   confirmed=True)
    bob = app.test_client()
    sign_in(bob, "bob")
    assert post_code(bob, current_totp(app)).status_code == 401
    assert failures(app, "bob") == 1 and failures(app, "alice") == 0
    assert factor_of(app, "alice").last_totp_step is None
