"""The recovery information (J2, D1, S14): security questions set at registration, then
changed (with the recovery email) only after a fresh sign-in with both factors, which
notifies the recovery email."""

from __future__ import annotations

from sqlalchemy import select

from idp import audit
from recovery.answers import normalise_answer, normalise_date
from recovery.models import RecoveryQuestions
from tests.helpers import (
    audit_tags,
    create_account,
    csrf,
    emailed_code,
    get_account,
    outbox,
    pass_second_factor,
    register,
    sign_in,
)
from tests.recovery.flows import ANSWER, DATE_HINT, MEMORABLE, PERSON, PERSON_HINT, QUESTION, text

FORM = {"question": QUESTION, "answer": ANSWER, "person_hint": PERSON_HINT, "person": PERSON,
        "date_hint": DATE_HINT, "memorable_date": MEMORABLE.isoformat()}


def post_questions_form(client, path: str, **changes: str):
    return client.post(path, data={"csrf_token": csrf(client, path), **FORM, **changes})


def rows(app) -> list[RecoveryQuestions]:
    with app.extensions["clef"].session_factory() as db:
        return list(db.scalars(select(RecoveryQuestions)))


def test_answers_are_normalised_D1():
    assert normalise_answer("  Marie \t CURIE ") == "marie curie"
    assert normalise_answer("\uff2d\uff21\uff32\uff29\uff25") == "marie"  # NFKC: full-width letters
    assert normalise_answer("Straße") == normalise_answer("STRASSE")  # casefold
    assert normalise_date("2001-05-31") == "2001-05-31"
    assert normalise_date(" 31 May ") == "31 may"  # not a date: never equals one


def test_registration_sets_the_questions_before_the_second_factor_J2(app):
    client = app.test_client()
    assert register(client, "alice").headers["Location"] == "/register/questions"
    page = text(client.get("/register/questions"))
    for label in ("My recovery question", "My recovery answer", "My memorable person",
                  "My memorable date", "Hint for my memorable person"):
        assert label in page
    response = post_questions_form(client, "/register/questions")
    assert response.status_code == 303
    assert response.headers["Location"] == "/2fa/setup"
    (row,) = rows(app)
    assert row.question == QUESTION and row.person_hint == PERSON_HINT
    assert audit.RECOVERY_QUESTIONS_SET in audit_tags(app)
    # Once set, this page cannot overwrite them: that needs a fresh sign-in (S14).
    assert client.get("/register/questions").headers["Location"] == "/2fa/setup"
    token = csrf(client, "/2fa/setup")  # the session's form token (its sign-out button)
    again = client.post("/register/questions", data={**FORM, "answer": "another",
                                                     "csrf_token": token})
    assert again.headers["Location"] == "/2fa/setup"
    assert rows(app)[0].answer_hash == row.answer_hash


def test_every_field_is_checked_and_hints_must_not_give_the_answer_away(app):
    client = app.test_client()
    register(client, "alice")
    response = post_questions_form(client, "/register/questions", question=f"Is it {ANSWER}?",
                                   person="", memorable_date="31/05/2001")
    assert response.status_code == 400
    page = text(response)
    assert "The hint must not contain the answer." in page
    assert "This field is required." in page
    assert "Enter a date such as 2001-05-31." in page
    assert rows(app) == []


def test_the_questions_page_is_not_for_anonymous_visitors_S20(app):
    response = app.test_client().get("/register/questions")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/signin")


def signed_in(app, username: str = "alice"):
    client = app.test_client()
    sign_in(client, username)
    pass_second_factor(app, client)
    return client


def test_changing_the_questions_needs_a_fresh_sign_in_and_notifies_S14(app, clock):
    account = create_account(app, "alice", email_address="alice@example.org", confirmed=True)
    client = signed_in(app)
    assert client.get("/account/recovery").status_code == 200
    clock.advance(minutes=11)
    stale = client.get("/account/recovery/questions")
    assert stale.status_code == 303 and stale.headers["Location"].startswith("/signin")
    client = signed_in(app)
    response = post_questions_form(client, "/account/recovery/questions", answer="Autre école")
    assert response.headers["Location"] == "/account/recovery?changed=questions"
    (row,) = rows(app)
    assert row.account_id == account.id
    (mail,) = outbox(app)
    assert mail["To"] == "alice@example.org"
    assert "recovery questions were changed" in mail["Subject"]


def test_changing_the_recovery_email_confirms_the_new_one_and_tells_both_S14(app):
    create_account(app, "alice", email_address="old@example.org", confirmed=True)
    client = signed_in(app)
    path = "/account/recovery/email"
    response = client.post(path, data={"csrf_token": csrf(client, path), "email": "new@example.org"})
    assert response.headers["Location"] == "/account/recovery/email/confirm"
    code_mail = outbox(app)[-1]
    assert code_mail["To"] == "new@example.org"
    assert get_account(app, "alice").email == "old@example.org"  # not before the code
    confirm = "/account/recovery/email/confirm"
    assert "new@example.org" in text(client.get(confirm))
    response = client.post(confirm, data={"csrf_token": csrf(client, confirm),
                                          "code": emailed_code(code_mail)})
    assert response.headers["Location"] == "/account/recovery?changed=email"
    account = get_account(app, "alice")
    assert account.email == "new@example.org" and account.has_confirmed_email
    told = sorted(m["To"] for m in outbox(app)[1:])
    assert told == ["new@example.org", "old@example.org"]
    assert audit.RECOVERY_EMAIL_CHANGED in audit_tags(app)


def test_changing_the_recovery_email_needs_a_sign_in_S14(app):
    response = app.test_client().get("/account/recovery/email")
    assert response.status_code == 303 and response.headers["Location"].startswith("/signin")


def test_the_password_alone_cannot_set_questions_on_a_registered_account_S14(app):
    """Someone holding only the password of an account that finished registration (it
    has a second factor) cannot write questions to reset it with."""
    create_account(app, "alice")  # with an authenticator app, as registration leaves it
    client = app.test_client()
    sign_in(client, "alice")
    assert client.get("/register/questions").headers["Location"] == "/2fa/setup"
    token = csrf(client, "/2fa/challenge")
    refused = client.post("/register/questions", data={**FORM, "csrf_token": token})
    assert refused.headers["Location"] == "/2fa/setup"
    assert rows(app) == []
