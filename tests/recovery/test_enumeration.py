"""Forgot username and forgot password answer the same way whether or not the account
exists (S6, ASVS 6.3.8): the same status and page, the same work (counted), and, checked
statistically over many interleaved requests, the same time."""

from __future__ import annotations

import statistics
import threading
import time

import pytest

from idp.models import ACTIVE
from tests.helpers import create_account, csrf, outbox, run_cli
from tests.idp.test_enumeration_timing import REAL_ARGON2, count_argon2
from tests.recovery.conftest import wait_for_mail
from tests.recovery.flows import (
    masked,
    other_than,
    post_code,
    post_questions,
    set_questions,
    start,
    start_timer,
    text,
)

ADDRESS = "alice@example.org"


def known(app):
    account = create_account(app, "alice", email_address=ADDRESS, confirmed=True)
    set_questions(app, account.id)
    return account


def test_forgot_password_steps_look_the_same_for_unknown_usernames_S6(app):
    known(app)
    a, b = app.test_client(), app.test_client()
    first = (start(a, "alice"), start(b, "nobody-here"))
    assert first[0].status_code == first[1].status_code == 303
    assert first[0].headers["Location"] == first[1].headers["Location"]
    assert len(outbox(app)) == 1  # only the real account gets a mail
    pages = (a.get("/forgot-password/code"), b.get("/forgot-password/code"))
    assert masked(pages[0], "alice") == masked(pages[1], "nobody-here")
    # The code step plays out the same: tries left, then the flow restarts (S16).
    for _ in range(4):
        wrong = (post_code(a, "000000" if other_than("0") else "1"), post_code(b, "000000"))
        assert wrong[0].status_code == wrong[1].status_code == 400
        assert masked(wrong[0], "alice") == masked(wrong[1], "nobody-here")
    last = (post_code(a, "000000"), post_code(b, "000000"))
    assert last[0].headers["Location"] == last[1].headers["Location"] == "/forgot-password?restart=codes"


def test_questions_page_shows_hints_for_every_username_and_counts_alike_S6_D1(app):
    known(app)
    a, b = app.test_client(), app.test_client()
    start(a, "alice"), start(b, "nobody-here")
    pages = (text(a.get("/forgot-password/questions")), text(b.get("/forgot-password/questions")))
    for page in pages:  # three hints above three fields, whoever the username is
        assert page.count('class="hint"') == 3
    for expected in ("2 tries left", "1 try left", "Too many wrong answers"):
        answers = (post_questions(a, "wrong"), post_questions(b, "wrong"))
        assert answers[0].status_code == answers[1].status_code == 400
        assert expected in text(answers[0]) and expected in text(answers[1])
    # The decoys are stable: the same question and hints every time for one username.
    again = app.test_client()
    start(again, "nobody-here")
    decoy = [line for line in pages[1].splitlines() if 'class="hint"' in line]
    assert decoy == [line for line in text(again.get("/forgot-password/questions")).splitlines()
                     if 'class="hint"' in line]


def test_questions_route_does_three_argon2_verifications_for_every_username_S6(app, monkeypatch):
    known(app)
    create_account(app, "bertrand")  # an account without questions
    calls = count_argon2(app, monkeypatch)
    for username in ("alice", "bertrand", "nobody-here"):
        client = app.test_client()
        start(client, username)
        assert calls["verify"] == 0  # step 1 checks nothing
        post_questions(client, "wrong")
        assert calls == {"verify": 3, "hash": 0}, username
        calls["verify"] = 0


def test_forgot_username_looks_the_same_for_unknown_addresses_S6(app):
    known(app)
    pages = []
    for address in (ADDRESS, "nobody@example.org"):
        client = app.test_client()
        token = csrf(client, "/forgot-username")
        response = client.post("/forgot-username", data={"csrf_token": token, "email": address})
        assert response.status_code == 303
        assert response.headers["Location"] == "/forgot-username/sent"
        pages.append(masked(client.get("/forgot-username/sent"), address))
    assert pages[0] == pages[1]
    assert len(outbox(app)) == 1


def test_mail_that_depends_on_the_account_is_sent_off_the_request_S6(app, monkeypatch):
    """Structural: the request never waits for the mailer, so an SMTP conversation for a
    known account cannot lengthen the answer. The mailer here blocks until the test has
    its answer; the mail then arrives from the background queue."""
    known(app)
    released = threading.Event()
    mailer = app.extensions["clef"].mailer
    real_send = mailer.send

    def blocked_send(mail, now):
        assert released.wait(timeout=10), "the request waited for the mailer"
        real_send(mail, now)

    monkeypatch.setattr(mailer, "send", blocked_send)
    client = app.test_client()
    for path, data in (("/forgot-username", {"email": ADDRESS}),
                       ("/forgot-password", {"username": "alice"})):
        released.clear()
        token = csrf(client, path)
        before = len(outbox(app))
        response = client.post(path, data={"csrf_token": token, **data}, wait_for_mail=False)
        assert response.status_code == 303  # answered while the mailer is still blocked
        assert len(outbox(app)) == before
        response.close()
        released.set()
        wait_for_mail(app)
        assert len(outbox(app)) == before + 1


# --- Timing -----------------------------------------------------------------------------

ROUNDS = 40


def _interleaved(timed, first: str, unknown, rounds: int = ROUNDS) -> tuple[float, float]:
    """Median times of the known value and of a fresh unknown one each round,
    alternating which goes first, so machine load affects both alike."""
    timed(first), timed(unknown(-1))  # warm up
    a: list[float] = []
    b: list[float] = []
    for i in range(rounds):
        pair = [(first, a), (unknown(i), b)]
        for value, times in pair if i % 2 else reversed(pair):
            times.append(timed(value))
    return statistics.median(a), statistics.median(b)


def _assert_close(known_median: float, unknown_median: float, what: str) -> None:
    ratio = unknown_median / known_median
    print(f"{what}: known {known_median * 1000:.2f} ms, unknown {unknown_median * 1000:.2f} ms")
    # Generous: a busy machine affects both alike (interleaved); a path that skipped
    # the mail or the write entirely would still be visible as a large ratio.
    assert 0.5 <= ratio <= 2.0, (
        f"{what}: unknown {unknown_median * 1000:.2f} ms vs known "
        f"{known_median * 1000:.2f} ms (ratio {ratio:.2f})"
    )


@pytest.mark.slow
def test_forgot_password_start_time_does_not_reveal_the_account_S6(make_app, backend):
    app = make_app(rate_limit={"forgot_password_per_ip": "10000/minute"},
                   email_code={"resend_interval_seconds": 0})
    known(app)
    client = app.test_client()
    timed = start_timer(app, client)

    known_median, unknown_median = _interleaved(timed, "alice", lambda i: f"nobody-{i}")
    _assert_close(known_median, unknown_median, f"{backend} forgot password")


@pytest.mark.slow
def test_forgot_username_time_does_not_reveal_the_address_S6(make_app, backend):
    app = make_app(rate_limit={"forgot_username_per_ip": "10000/minute",
                               "forgot_username_per_address": "10000/minute"})
    known(app)
    client = app.test_client()
    token = csrf(client, "/forgot-username")

    def timed(address: str) -> float:
        begin = time.perf_counter()
        response = client.post("/forgot-username", data={"csrf_token": token, "email": address},
                               wait_for_mail=False)
        elapsed = time.perf_counter() - begin  # the answer, without the mail sent after it
        response.close()  # as the server does once the answer is sent
        wait_for_mail(app)  # not timed: the next request starts on a quiet queue
        assert response.status_code == 303
        return elapsed

    known_median, unknown_median = _interleaved(timed, ADDRESS, lambda i: f"nobody{i}@example.org")
    _assert_close(known_median, unknown_median, f"{backend} forgot username")


@pytest.mark.slow
def test_questions_time_does_not_reveal_the_account_S6(make_app, backend):
    app = make_app(argon2=REAL_ARGON2, rate_limit={"forgot_password_per_ip": "10000/minute"},
                   recovery={"answer_max_failures": 10_000})
    account = known(app)
    assert account.status == ACTIVE
    client = app.test_client()

    def timed(username: str) -> float:
        start(client, username)
        token = csrf(client, "/forgot-password/questions")
        begin = time.perf_counter()
        response = client.post("/forgot-password/questions", data={
            "csrf_token": token, "answer": "wrong", "person": "wrong",
            "memorable_date": "2000-01-01"})
        elapsed = time.perf_counter() - begin
        assert response.status_code == 400
        return elapsed

    # Three real argon2 verifications dominate each request: fewer rounds suffice.
    known_median, unknown_median = _interleaved(timed, "alice", lambda i: f"nobody-{i}", 12)
    assert known_median > 0.01, f"argon2 too cheap to measure: {known_median:.4f}s"
    _assert_close(known_median, unknown_median, f"{backend} security questions")


def test_a_revoked_credential_looks_like_an_unknown_one_to_whoever_types_it_S6_S19(app):
    create_account(app, "revoked-one", email_address=ADDRESS, confirmed=True)
    assert run_cli(app, "users", "revoke", "revoked-one", "--reason", "other").exit_code == 0
    a, b = app.test_client(), app.test_client()
    assert start(a, "revoked-one").headers["Location"] == start(b, "nobody-here").headers["Location"]
    pages = (a.get("/forgot-password/code"), b.get("/forgot-password/code"))
    assert masked(pages[0], "revoked-one") == masked(pages[1], "nobody-here")
    wrong = (post_code(a, "000000"), post_code(b, "000000"))
    assert masked(wrong[0], "revoked-one") == masked(wrong[1], "nobody-here")
