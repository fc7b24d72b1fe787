"""Mail is never lost (issue 9, faults): the process is killed with SIGKILL between the
commit that wrote the mail to the outbox and its delivery, and the worker sends it
later; the page the person saw did not change. The message waits sealed, and is blanked
once sent."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import requests
from sqlalchemy import select

from idp import audit
from idp.models import OutboxMail
from idp.outbox import PENDING, SENT
from tests.faults.conftest import catch_up
from tests.helpers import CSRF_RE, GOOD_PASSWORD, audit_events, body_of, create_account, emailed_code, outbox

ADDRESS = "alice@example.org"


def _rows(app):
    db = app.extensions["clef"].session_factory()
    try:
        return list(db.scalars(select(OutboxMail).where(OutboxMail.status != "discarded")))
    finally:
        db.close()


def _post(served, path: str, data: dict[str, str]) -> requests.Response:
    browser = requests.Session()
    page = browser.get(served.url + path, timeout=10)
    found = CSRF_RE.search(page.text)
    assert found
    return browser.post(served.url + path, data={"csrf_token": found.group(1), **data},
                        allow_redirects=False, timeout=10)


def _register(served) -> None:
    """Post the registration screen; the planted fault kills the process before it
    answers."""
    browser = requests.Session()
    token = CSRF_RE.search(browser.get(served.url + "/register", timeout=10).text)
    assert token
    with contextlib.suppress(requests.ConnectionError):
        browser.post(served.url + "/register", allow_redirects=False, timeout=10, data={
            "csrf_token": token.group(1), "username": "alice", "password": GOOD_PASSWORD,
            "confirm": GOOD_PASSWORD, "email": ADDRESS})


def test_forgot_username_mail_killed_after_the_response_goes_out_later(app, serve, clock,
                                                                      worker_pass):
    """S6's mail leaves after the response; a process killed then used to lose it."""
    create_account(app, "alice", email_address=ADDRESS, confirmed=True)
    served = serve("mail-send")

    answer = _post(served, "/forgot-username", {"email": ADDRESS})

    assert answer.status_code == 303 and answer.headers["Location"].endswith("/forgot-username/sent")
    assert served.killed(), "the planted fault did not fire"
    assert outbox(app) == []
    (row,) = _rows(app)
    assert row.status == PENDING and row.message == "forgot_username"
    assert "alice" not in row.sealed and ADDRESS not in row.sealed  # sealed at rest

    catch_up(clock, timedelta(seconds=5))
    worker_pass()
    assert outbox(app) == []  # not before the first wait: the request may still be sending
    catch_up(clock, timedelta(seconds=31))
    worker_pass()

    (mail,) = outbox(app)
    assert mail["To"] == ADDRESS and "alice" in body_of(mail)
    (row,) = _rows(app)
    assert row.status == SENT and row.sealed == ""
    (sent,) = audit_events(app, audit.MAIL_SENT)
    assert sent.details == {"mail": "forgot_username", "attempts": 1}


def test_a_registration_code_killed_before_it_left_goes_out_later(app, serve, clock,
                                                                  worker_pass):
    """The account, its code and the mail are one transaction: killed right after it,
    the code still reaches the person while it is valid."""
    served = serve("mail-send")
    _register(served)
    assert served.killed()

    catch_up(clock, timedelta(seconds=31))
    worker_pass()
    (mail,) = outbox(app)
    assert mail["To"] == ADDRESS and len(emailed_code(mail)) == 6


def test_a_code_mail_that_could_not_leave_in_time_is_given_up(app, serve, clock, worker_pass):
    """A mail holding an emailed code is not sent once the code has expired; audited."""
    served = serve("mail-send")
    _register(served)
    assert served.killed()

    catch_up(clock, timedelta(minutes=11))
    worker_pass()
    assert outbox(app) == []
    (row,) = _rows(app)
    assert row.status == "given_up" and row.sealed == ""
    (given_up,) = audit_events(app, audit.MAIL_GIVEN_UP)
    assert given_up.details["reason"] == "expired"
