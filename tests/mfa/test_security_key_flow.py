"""Security keys through the screens (D3): set-up as the first factor, signing in,
a key beside the app, removal behind a fresh sign-in (S14), the last factor kept, a
cloned key refused and audited, failed assertions counted (D4), and the page without
script still offering the other methods."""

from __future__ import annotations

from mfa import events
from tests.helpers import (
    audit_events,
    body_of,
    create_account,
    csrf_from,
    fresh_totp,
    outbox,
    pass_second_factor,
    shown_recovery_codes,
    sign_in,
    sign_out_via,
)
from tests.mfa.flows import session_row
from tests.support.soft_key import SoftKey, page_options

ORIGIN = "http://127.0.0.1:5000"


def register_key(client, key, name="YubiKey bleue", origin=None):
    page = client.get("/2fa/setup/key")
    assert page.status_code == 200, page.headers.get("Location")
    html = page.get_data(as_text=True)
    return client.post("/2fa/setup/key", data={
        "csrf_token": csrf_from(page), "name": name,
        "credential": key.create(page_options(html), origin)})


def answer_challenge(client, key, origin=None, replay=None):
    page = client.get("/2fa/challenge/key")
    assert page.status_code == 200, page.headers.get("Location")
    answer = replay or key.get(page_options(page.get_data(as_text=True)), origin)
    response = client.post("/2fa/challenge/key", data={"csrf_token": csrf_from(page),
                                                        "credential": answer})
    return response, answer


def enrolled_with_key(app, client, **account):
    create_account(app, "alice", second_factor=None, **account)
    sign_in(client, "alice")
    key = SoftKey(ORIGIN)
    done = register_key(client, key)
    assert done.status_code == 303 and done.headers["Location"] == "/2fa/recovery-codes"
    return key


def test_d3_set_up_with_a_key_signs_in_with_hwk_and_pop_and_issues_codes(app, client):
    enrolled_with_key(app, client)
    assert len(shown_recovery_codes(client.get("/2fa/recovery-codes"))) == 10
    assert session_row(app, client).amr.split() == ["pwd", "hwk", "pop"]
    assert [e.details.get("method") for e in audit_events(app, events.ENROLLED)] == ["webauthn"]


def test_d3_sign_in_with_the_key_and_the_counter_moves(app, client):
    key = enrolled_with_key(app, client)
    sign_out_via(client)
    sign_in(client, "alice")
    assert client.get("/2fa/challenge").headers["Location"] == "/2fa/challenge/key"
    response, _ = answer_challenge(client, key)
    assert response.status_code == 303
    assert session_row(app, client).amr.split() == ["pwd", "hwk", "pop"]
    page = client.get("/2fa/manage").get_data(as_text=True)
    assert "YubiKey bleue" in page and "Never" not in page


def test_d3_a_synced_passkey_says_swk(app, client):
    create_account(app, "alice", second_factor=None)
    sign_in(client, "alice")
    assert register_key(client, SoftKey(ORIGIN, synced=True)).status_code == 303
    assert session_row(app, client).amr.split() == ["pwd", "swk", "pop"]


def test_d3_cloned_key_with_a_counter_going_back_is_refused_and_audited(app, client):
    key = enrolled_with_key(app, client)
    clone = key.clone()
    sign_out_via(client)
    sign_in(client, "alice")
    key.sign_count = 5
    assert answer_challenge(client, key)[0].status_code == 303
    sign_out_via(client)
    sign_in(client, "alice")
    response, _ = answer_challenge(client, clone)  # counter 1, after 6
    assert response.status_code == 401
    assert "not accepted" in response.get_data(as_text=True)
    assert session_row(app, client).level != "full"
    [cloned] = audit_events(app, events.KEY_COUNTER_WENT_BACK)
    assert (cloned.details["stored"], cloned.details["got"]) == ("6", "1")


def test_d3_an_answer_is_good_once_and_for_this_origin_only(app, client):
    key = enrolled_with_key(app, client)
    sign_out_via(client)
    sign_in(client, "alice")
    phished, _ = answer_challenge(client, key, origin="http://127.0.0.1.evil.example")
    assert phished.status_code == 401
    ok, answer = answer_challenge(client, key)
    assert ok.status_code == 303
    sign_out_via(client)
    sign_in(client, "alice")
    assert answer_challenge(client, key, replay=answer)[0].status_code == 401


def test_d4_failed_assertions_count_like_wrong_codes(app, client):
    key = enrolled_with_key(app, client)
    sign_out_via(client)
    sign_in(client, "alice")
    statuses = [answer_challenge(client, key, replay="{}")[0].status_code for _ in range(6)]
    assert statuses[:5] == [401] * 5 and statuses[5] == 429
    assert answer_challenge(client, key)[0].status_code == 429  # even a good answer now
    assert len(audit_events(app, events.FAILURE)) == 5


def test_d3_key_beside_the_app_and_use_another_method(app, client):
    create_account(app, "alice", email_address="alice@example.com", confirmed=True)
    sign_in(client, "alice")
    pass_second_factor(app, client)
    assert register_key(client, SoftKey(ORIGIN)).headers["Location"] == "/2fa/manage?added=1"
    assert "YubiKey bleue" in body_of(outbox(app)[-1])
    sign_out_via(client)
    sign_in(client, "alice")
    page = client.get("/2fa/challenge/key").get_data(as_text=True)
    assert 'href="/2fa/challenge?use=code"' in page and 'href="/2fa/recover"' in page
    code_page = client.get("/2fa/challenge?use=code")
    assert code_page.status_code == 200
    typed = client.post("/2fa/challenge", data={"csrf_token": csrf_from(code_page),
                                                "code": fresh_totp(app, "alice")})
    assert typed.status_code == 303  # the app still works
    assert session_row(app, client).amr.split() == ["pwd", "otp"]


def test_s14_removing_a_key_needs_a_fresh_sign_in_notifies_and_keeps_the_last(app, client, clock):
    create_account(app, "alice", email_address="alice@example.com", confirmed=True,
                   second_factor=None)
    sign_in(client, "alice")
    first, second = SoftKey(ORIGIN), SoftKey(ORIGIN)
    register_key(client, first, "one")
    token = csrf_from(client.get("/2fa/recovery-codes"))
    client.post("/2fa/recovery-codes", data={"csrf_token": token, "saved": "y"})
    assert register_key(client, second, "two").status_code == 303
    page = client.get("/2fa/manage")
    ids = [k.id for k in _keys(app)]
    clock.advance(minutes=11)
    stale = client.post(f"/2fa/keys/{ids[0]}/remove", data={"csrf_token": csrf_from(page)})
    assert stale.status_code == 303 and stale.headers["Location"].startswith("/signin")
    assert len(_keys(app)) == 2
    sign_out_via(client)
    sign_in(client, "alice")
    answer_challenge(client, first)
    page = client.get("/2fa/manage")
    removed = client.post(f"/2fa/keys/{ids[0]}/remove", data={"csrf_token": csrf_from(page)})
    assert removed.headers["Location"] == "/2fa/manage?removed=1"
    assert "one" in body_of(outbox(app)[-1]) and len(_keys(app)) == 1
    last = client.post(f"/2fa/keys/{ids[1]}/remove", data={"csrf_token": csrf_from(page)})
    assert last.headers["Location"] == "/2fa/manage?last=1" and len(_keys(app)) == 1
    assert len(audit_events(app, events.KEY_REMOVED)) == 1


def test_d3_someone_elses_key_cannot_be_removed(app, client):
    create_account(app, "bob", second_factor=None)
    bob_client = app.test_client()
    sign_in(bob_client, "bob")
    register_key(bob_client, SoftKey(ORIGIN))
    [bobs] = _keys(app)
    create_account(app, "alice")
    sign_in(client, "alice")
    pass_second_factor(app, client)
    page = client.get("/2fa/manage")
    assert client.post(f"/2fa/keys/{bobs.id}/remove",
                       data={"csrf_token": csrf_from(page)}).status_code == 404
    assert len(_keys(app)) == 1


def test_d3_without_script_the_key_method_is_hidden_and_the_others_work(app, client):
    create_account(app, "alice", second_factor=None)
    sign_in(client, "alice")
    setup = client.get("/2fa/setup").get_data(as_text=True)
    assert '<div class="choice" data-webauthn-only hidden>' in setup
    assert 'id="method-totp"' in setup and 'value="totp" checked' in setup
    key = SoftKey(ORIGIN)
    register_key(client, key)
    sign_out_via(client)
    sign_in(client, "alice")
    page = client.get("/2fa/challenge/key").get_data(as_text=True)
    assert 'data-webauthn-only hidden>' in page and "<noscript>" in page
    assert 'href="/2fa/recover"' in page


def test_d3_portal_step_up_knows_the_account_has_a_key(app, client):
    enrolled_with_key(app, client)
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        assert svc.factor_amr(db, session_row(app, client).account_id) == "hwk"
    finally:
        db.close()


def _keys(app):
    from sqlalchemy import select

    from mfa.models import SecurityKey
    db = app.extensions["clef"].session_factory()
    try:
        return list(db.scalars(select(SecurityKey).order_by(SecurityKey.id)))
    finally:
        db.close()


def test_d3_users_show_lists_factors_without_key_material(app, client):
    from tests.helpers import run_cli

    create_account(app, "alice")
    sign_in(client, "alice")
    pass_second_factor(app, client)
    register_key(client, SoftKey(ORIGIN), name="YubiKey bleue")
    out = run_cli(app, "users", "show", "alice").output
    assert "second factor    authenticator app (added 2026-01-05)" in out
    assert "second factor    security key 'YubiKey bleue' (added 2026-01-05, last used never)" in out
    [key] = _keys(app)
    assert key.credential_id not in out and "pQEC" not in out


def test_d3_an_account_with_only_keys_shows_them_as_its_method(app, client):
    enrolled_with_key(app, client)
    page = client.get("/2fa/manage").get_data(as_text=True)
    assert "<dd>Security key or passkey</dd>" in page and "YubiKey bleue" in page


def test_d3_a_garbled_answer_is_a_clear_4xx_and_registers_nothing(app, client):
    create_account(app, "alice", second_factor=None)
    sign_in(client, "alice")
    for garbled in ("[]", "null", "{", '{"response": []}', "x" * 20000):
        page = client.get("/2fa/setup/key")
        answer = client.post("/2fa/setup/key", data={"csrf_token": csrf_from(page),
                                                      "name": "k", "credential": garbled})
        assert answer.status_code == 400
    assert _keys(app) == []


def test_s14_the_password_alone_cannot_set_questions_on_an_account_with_only_keys(app, client):
    """A key counts as a finished registration: the J2 questions page is closed to a
    session that holds only the password (it failed open before)."""
    from tests.recovery.test_questions import FORM, rows

    enrolled_with_key(app, client)
    other = app.test_client()
    sign_in(other, "alice")
    assert other.get("/register/questions").headers["Location"] == "/2fa/setup"
    token = csrf_from(other.get("/2fa/challenge/key"))
    refused = other.post("/register/questions", data={**FORM, "csrf_token": token})
    assert refused.headers["Location"] == "/2fa/setup"
    assert rows(app) == []
