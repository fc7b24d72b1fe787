"""Every form, fuzzed (S28; ASVS 1.2, 1.3): register, sign-in, the second factor's
set-up and challenge, recovery by code, forgot username, each forgot-password step, the
security questions, the recovery settings, the account page's actions, consent and
logout. Each example posts hostile values (or good ones, so later checks are reached)
with the page's own form token, or none, or a wrong one; then asks for the page with a
hostile query. No answer is a 5xx or shows a trace or a secret; a refused one changes
no guarded row (tests/fuzz/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

import pytest
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import (
    FUZZ,
    World,
    anonymous,
    enrolment,
    password_step,
    signed_in,
)
from tests.fuzz.hostile import field_values, query_values, text_value
from tests.helpers import CSRF_RE, csrf, emailed_code, outbox
from tests.oidc.rp import Request
from tests.recovery.flows import ANSWER, MEMORABLE, PERSON, post_code, post_questions, start

Prepare = Callable[[World], FlaskClient]


def reset_at_code(world: World) -> FlaskClient:
    client = anonymous(world)
    start(client, "alice")
    return client


def reset_at_question(world: World) -> FlaskClient:
    """The emailed-code route, past the code: the recovery question (J7)."""
    client = reset_at_code(world)
    assert post_code(client, emailed_code(outbox(world.app)[-1])).status_code == 303
    return client


def reset_at_new_password(world: World) -> FlaskClient:
    """The questions route, answered: the new password step (J7)."""
    client = reset_at_code(world)
    assert post_questions(client).status_code == 303
    return client


def new_email_pending(world: World) -> FlaskClient:
    client = signed_in(world)
    client.post("/account/recovery/email", data={
        "csrf_token": csrf(client, "/account/recovery/email"), "email": "alice.new@example.org"})
    return client


def at_consent(world: World) -> FlaskClient:
    return signed_in(world)


@dataclass(frozen=True)
class Form:
    page: str
    fields: tuple[str, ...]
    prepare: Prepare = anonymous
    post_to: str | None = None
    known: dict[str, list[str]] = field(default_factory=dict)


GOOD_PASSWORDS = ["lanterns over the quiet harbour", "correct horse battery staple"]
FORMS = {
    "register": Form("/register", ("username", "password", "confirm", "email"),
                     known={"username": ["carol", "alice"], "password": GOOD_PASSWORDS,
                            "confirm": GOOD_PASSWORDS, "email": ["carol@example.org"]}),
    "sign_in": Form("/signin", ("username", "password"),
                    known={"username": ["alice", "bob"], "password": GOOD_PASSWORDS[:1]}),
    "challenge": Form("/2fa/challenge", ("code",), password_step),
    "challenge_resend": Form("/2fa/challenge", (), password_step, "/2fa/challenge/resend"),
    "recover": Form("/2fa/recover", ("code",), password_step),
    "setup_choose": Form("/2fa/setup", ("method",), enrolment),
    "setup_app": Form("/2fa/setup/app", ("code",), enrolment),
    "setup_email": Form("/2fa/setup/email", ("code",), enrolment),
    "setup_key": Form("/2fa/setup/key", ("name", "credential"), enrolment),
    "challenge_key": Form("/2fa/challenge", ("credential",), password_step, "/2fa/challenge/key"),
    "remove_key": Form("/2fa/manage", (), signed_in, "/2fa/keys/1/remove"),
    "setup_email_resend": Form("/2fa/setup/email", (), enrolment, "/2fa/setup/email/resend"),
    "register_questions": Form(
        "/register/questions",
        ("question", "answer", "person_hint", "person", "date_hint", "memorable_date"),
        enrolment, known={"memorable_date": ["2001-05-31"]}),
    "forgot_username": Form("/forgot-username", ("email",),
                            known={"email": ["alice@example.org"]}),
    "forgot_password": Form("/forgot-password", ("username",), known={"username": ["alice"]}),
    "reset_code": Form("/forgot-password/code", ("code",), reset_at_code),
    "reset_code_resend": Form("/forgot-password/code", (), reset_at_code,
                              "/forgot-password/code/resend"),
    "reset_question": Form("/forgot-password/question", ("answer",), reset_at_question,
                           known={"answer": [ANSWER.upper()]}),
    "reset_questions": Form("/forgot-password/questions", ("answer", "person", "memorable_date"),
                            reset_at_code, known={"answer": [ANSWER], "person": [PERSON],
                                                  "memorable_date": [MEMORABLE.isoformat()]}),
    "reset_new_password": Form("/forgot-password/new", ("password", "confirm"),
                               reset_at_new_password,
                               known={"password": GOOD_PASSWORDS, "confirm": GOOD_PASSWORDS}),
    "recovery_questions": Form(
        "/account/recovery/questions",
        ("question", "answer", "person_hint", "person", "date_hint", "memorable_date"),
        signed_in, known={"memorable_date": ["1999-12-31"]}),
    "recovery_email": Form("/account/recovery/email", ("email",), signed_in,
                           known={"email": ["alice.new@example.org"]}),
    "recovery_email_confirm": Form("/account/recovery/email/confirm", ("code",),
                                   new_email_pending),
    "recovery_codes_saved": Form("/2fa/recovery-codes/new", ("saved",), signed_in,
                                 "/2fa/recovery-codes"),
    "new_recovery_codes": Form("/2fa/recovery-codes/new", (), signed_in),
    "end_other_sessions": Form("/account", (), signed_in, "/2fa/sessions/end-others"),
    "keep_alive": Form("/account", ("next",), signed_in, "/session/keepalive"),
    "language": Form("/account", (), signed_in),
    "sign_out": Form("/account", (), signed_in, "/signout"),
    "consent": Form("/account", ("decision",), at_consent, "/authorize",
                    known={"decision": ["allow", "deny"]}),
    "logout": Form("/account", ("confirm", "id_token_hint", "post_logout_redirect_uri",
                                "state", "client_id", "ui_locales"), signed_in, "/logout",
                   known={"confirm": ["1"], "post_logout_redirect_uri": ["https://portal.example/signed-out"]}),
}


def page_token(client: FlaskClient, page: str) -> str:
    """The form token of ``page``, or "" when it shows none (a state that moved on)."""
    found = CSRF_RE.search(client.get(page).get_data(as_text=True))
    return found.group(1) if found else ""


TOKEN_CHOICE = st.sampled_from(["page", "page", "page", "none", "wrong"])


@pytest.mark.parametrize("name", sorted(FORMS))
@FUZZ
@given(data=st.data())
def test_s28_fuzz_form(world: World, name: str, data: st.DataObject) -> None:
    form = FORMS[name]
    client = world.browser(name, form.prepare)
    values = data.draw(field_values(form.fields, form.known), label="fields")
    if data.draw(st.booleans(), label="extra field"):
        values[data.draw(text_value(), label="extra name") or "x"] = data.draw(text_value())
    choice = data.draw(TOKEN_CHOICE, label="form token")
    token = page_token(client, form.page)
    if choice == "page":
        values["csrf_token"] = token
    elif choice == "wrong":
        values["csrf_token"] = data.draw(text_value(), label="wrong token")
    target = form.post_to or form.page
    if name == "consent":
        target = world.portal(trusted=False).authorize_url(Request())
    if name == "language":
        target = "/language/" + quote(data.draw(text_value(), label="language"), safe="")
        before = world.guarded()
        world.check(client.get(target), before)
        return
    before = world.guarded()
    world.check(client.post(target, data=values), before, sent=values.values())
    query = data.draw(query_values(), label="query")
    world.check(client.get(form.page + "?" + urlencode(query)))
