"""Tools the recovery tests share: security questions set through the real service,
each forgot-password step posted as a person would, masked pages for S6 comparisons."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from datetime import date

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from recovery.answers import Answers, Hints, save_questions
from tests.helpers import csrf, emailed_code, outbox
from tests.recovery.conftest import wait_for_mail

QUESTION = "What was the name of my first school?"
PERSON_HINT = "My favourite teacher"
DATE_HINT = "A summer trip"
ANSWER = "École Sainte-Marie"
PERSON = "Madame Tremblay"
MEMORABLE = date(2001, 5, 31)
NEW_PASSWORD = "lanterns over the quiet harbour"


def set_questions(app: Flask, account_id: int) -> None:
    svc = app.extensions["clef"]
    with app.app_context():
        db = svc.session_factory()
        try:
            save_questions(db, svc.hasher, account_id, Hints(QUESTION, PERSON_HINT, DATE_HINT),
                           Answers(ANSWER, PERSON, MEMORABLE.isoformat()), svc.clock.now())
            db.commit()
        finally:
            db.close()


def text(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def start(client: FlaskClient, username: str) -> TestResponse:
    return client.post("/forgot-password", data={"csrf_token": csrf(client, "/forgot-password"),
                                                 "username": username})


def post_code(client: FlaskClient, code: str) -> TestResponse:
    return client.post("/forgot-password/code",
                       data={"csrf_token": csrf(client, "/forgot-password/code"), "code": code})


def resend(client: FlaskClient) -> TestResponse:
    return client.post("/forgot-password/code/resend",
                       data={"csrf_token": csrf(client, "/forgot-password/code")})


def post_question(client: FlaskClient, answer: str = ANSWER) -> TestResponse:
    return client.post("/forgot-password/question",
                       data={"csrf_token": csrf(client, "/forgot-password/question"),
                             "answer": answer})


def post_questions(client: FlaskClient, answer: str = ANSWER, person: str = PERSON,
                   memorable: date = MEMORABLE) -> TestResponse:
    return client.post("/forgot-password/questions",
                       data={"csrf_token": csrf(client, "/forgot-password/questions"),
                             "answer": answer, "person": person,
                             "memorable_date": memorable.isoformat()})


def post_new_password(client: FlaskClient, password: str = NEW_PASSWORD,
                      confirm: str | None = None) -> TestResponse:
    return client.post("/forgot-password/new",
                       data={"csrf_token": csrf(client, "/forgot-password/new"),
                             "password": password,
                             "confirm": password if confirm is None else confirm})


def last_code(app: Flask) -> str:
    return emailed_code(outbox(app)[-1])


def other_than(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def masked(response: TestResponse, *typed: str) -> str:
    """The page without what may differ: the form token, and what the person typed."""
    body = re.sub(r'(name="csrf_token" type="hidden" value=")[^"]+', r"\1TOKEN",
                  response.get_data(as_text=True))
    for value in typed:
        body = body.replace(value, "TYPED")
    return body


def start_timer(app: Flask, client: FlaskClient) -> Callable[[str], float]:
    """Times step 1 of forgot password for a username (S6): the answer only, without the
    mail sent after it; each request starts on a quiet mail queue."""
    token = csrf(client, "/forgot-password")

    def timed(username: str) -> float:
        begin = time.perf_counter()
        response = client.post("/forgot-password", data={"csrf_token": token, "username": username},
                               wait_for_mail=False)
        elapsed = time.perf_counter() - begin
        response.close()  # as the server does once the answer is sent
        wait_for_mail(app)  # not timed
        assert response.status_code == 303
        return elapsed

    return timed
