"""S6 (ASVS 6.3.8): forgot password's step 1, its restart and the code step behave the
same for every username: an active account with a confirmed recovery email, an account
without one, a revoked credential and a name nobody registered. Compared byte for byte
(pages without their form tokens and the typed username), status and redirect, and by
the SQL each request runs (the same statements, so the same work: a row write that only
real accounts made was a timing oracle)."""

from __future__ import annotations

import re
import statistics
import threading
import time

import pytest
from sqlalchemy import event

from tests.helpers import create_account, csrf, outbox, run_cli
from tests.recovery.conftest import wait_for_mail
from tests.recovery.flows import masked, post_code, resend, set_questions, start

ADDRESS = "alice@example.org"
# One name per kind of username; each is typed back on the pages (masked).
KINDS = ("alice", "bertrand", "revoked-one", "nobody-here")


def _accounts(app) -> None:
    alice = create_account(app, "alice", email_address=ADDRESS, confirmed=True)
    set_questions(app, alice.id)
    bertrand = create_account(app, "bertrand")  # no recovery email
    set_questions(app, bertrand.id)
    create_account(app, "revoked-one", email_address="r@example.org", confirmed=True)
    assert run_cli(app, "users", "revoke", "revoked-one", "--reason", "other").exit_code == 0


def _wrong_code(app) -> str:
    """A code that is wrong for every username: not one that was mailed."""
    mailed = set(re.findall(r"\b\d{6}\b", " ".join(str(m) for m in outbox(app))))
    return next(f"{n:06d}" for n in range(10**6) if f"{n:06d}" not in mailed)


def _seen(response, username: str) -> tuple[int, str | None, str]:
    return (response.status_code, response.headers.get("Location"), masked(response, username))


def _transcript(app, clock, username: str) -> list[tuple[int, str | None, str]]:
    """Everything someone who typed ``username`` can observe, in two browsers."""
    seen = []
    a, b = app.test_client(), app.test_client()
    seen.append(_seen(start(a, username), username))
    seen.append(_seen(a.get("/forgot-password/code"), username))
    wrong = _wrong_code(app)
    for _ in range(2):
        seen.append(_seen(post_code(a, wrong), username))
    # A restart within the resend interval, from another browser: the first flow is
    # superseded for everyone, and the tries already made still count.
    clock.advance(seconds=5)
    seen.append(_seen(start(b, username), username))
    seen.append(_seen(b.get("/forgot-password/code"), username))
    seen.append(_seen(a.get("/forgot-password/code"), username))
    seen.append(_seen(post_code(b, wrong), username))
    # The same browser again, then "send a new code" too soon and after the interval.
    seen.append(_seen(start(b, username), username))
    seen.append(_seen(post_code(b, wrong), username))
    seen.append(_seen(resend(b), username))
    clock.advance(seconds=31)
    seen.append(_seen(resend(b), username))
    seen.append(_seen(b.get("/forgot-password/code?sent=1"), username))
    for _ in range(5):  # until the code dies and the flow restarts
        response = post_code(b, wrong)
        seen.append(_seen(response, username))
        if response.status_code == 303:
            break
    # After the interval a restart is a new flow with a new code.
    seen.append(_seen(start(a, username), username))
    seen.append(_seen(post_code(a, wrong), username))
    return seen


@pytest.fixture
def app(make_app):
    """Many requests from one address: the per-address limit must not step in."""
    return make_app(rate_limit={"forgot_password_per_ip": "10000/minute"})


def test_s6_step_one_and_its_restart_look_the_same_for_every_username(app, clock):
    _accounts(app)
    transcripts = {name: _transcript(app, clock, name) for name in KINDS}
    reference = transcripts["nobody-here"]
    statuses = [status for status, _, _ in reference]
    assert statuses[:4] == [303, 200, 400, 400]
    assert 429 in statuses
    assert "/forgot-password?restart=codes" in [location for _, location, _ in reference]
    for name in KINDS:
        for step, (seen, expected) in enumerate(zip(transcripts[name], reference, strict=True)):
            assert seen == expected, f"{name} differs from an unknown username at step {step}"
    # Only the owners' mailboxes differ: a code per new code (two starts, one resend),
    # and the revoked credential's notice as often as a start would send a code.
    recipients = [m["To"] for m in outbox(app)]
    assert recipients.count(ADDRESS) == 3 and recipients.count("r@example.org") == 2
    assert len(recipients) == 5


class _Statements:
    """The SQL a request runs before its answer, without its parameters. Statements of
    the mail thread, which sends once the answer is out (S6), are not the request's."""

    def __init__(self, engine) -> None:
        self.seen: list[str] = []
        self._request_thread = threading.get_ident()
        event.listen(engine, "before_cursor_execute", self._record)
        self._engine = engine

    def _record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if threading.get_ident() != self._request_thread:
            return
        self.seen.append(" ".join(statement.split()))

    def take(self) -> list[str]:
        taken, self.seen = self.seen, []
        return taken

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._record)


@pytest.fixture
def statements(app):
    recorder = _Statements(app.extensions["clef"].engine)
    yield recorder
    recorder.close()


def test_s6_step_one_runs_the_same_sql_for_every_username(app, clock, statements):
    """The same statements in the same order for every kind of username, for a first
    start, a restart within the resend interval and a wrong code: no write (or read)
    that only a real account makes."""
    _accounts(app)
    runs: dict[str, list[list[str]]] = {}
    for name in KINDS:
        client = app.test_client()
        token = csrf(client, "/forgot-password")
        statements.take()
        steps = []
        for _ in range(2):  # a start, then a restart moments later
            response = client.post("/forgot-password", data={"csrf_token": token, "username": name})
            assert response.status_code == 303
            steps.append(statements.take())
        code_token = csrf(client, "/forgot-password/code")
        statements.take()
        client.post("/forgot-password/code", data={"csrf_token": code_token, "code": "000000"})
        steps.append(statements.take())
        runs[name] = steps
    for name in KINDS:
        assert runs[name] == runs["nobody-here"], name
    assert any(s.startswith(("INSERT", "UPDATE")) for s in runs["nobody-here"][0])


# --- Timing -----------------------------------------------------------------------------

ROUNDS = 30


@pytest.mark.slow
def test_s6_start_and_restart_take_the_same_time_for_every_username(app, clock, backend):
    """Median times of a first start and of a restart moments later, per kind of
    username, interleaved (the order rotates each round, so machine load falls on all
    alike). Generous bounds, as a busy machine is noisy; the exact guard is the SQL test
    above, which sees the extra row write a real account used to make (10-20%)."""
    _accounts(app)
    client = app.test_client()
    token = csrf(client, "/forgot-password")

    def timed(username: str) -> float:
        begin = time.perf_counter()
        response = client.post("/forgot-password", data={"csrf_token": token, "username": username},
                               wait_for_mail=False)
        elapsed = time.perf_counter() - begin  # the answer, without the mail sent after it
        response.close()  # as the server does once the answer is sent
        wait_for_mail(app)  # not timed: the next request starts on a quiet queue
        assert response.status_code == 303
        return elapsed

    for name in KINDS:  # warm up
        timed(name)
    times: dict[tuple[str, str], list[float]] = {(n, s): [] for n in KINDS for s in ("new", "again")}
    for i in range(ROUNDS):
        clock.advance(seconds=31)  # past the resend interval: each first start is a new code
        order = KINDS[i % len(KINDS):] + KINDS[:i % len(KINDS)]
        for name in order:
            times[(name, "new")].append(timed(name))
        for name in reversed(order):
            times[(name, "again")].append(timed(name))
    medians = {key: statistics.median(values) for key, values in times.items()}
    print(backend, {f"{n}/{s}": f"{m * 1000:.2f} ms" for (n, s), m in medians.items()})
    for (name, step), median in medians.items():
        reference = medians[("nobody-here", step)]
        # Half to twice: what a real account would add without the SQL guard (an argon2
        # run, a mail sent in the request) is several times the whole step.
        assert 0.5 <= median / reference <= 2.0, (name, step, median, reference)
