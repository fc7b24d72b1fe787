"""J10: *Récupérer le compte* with one recovery code; J11: lost the method and the codes."""

from __future__ import annotations

import threading

from idp import audit
from idp.sessions import FULL, PASSWORD
from mfa import events
from tests.helpers import (
    audit_events,
    body_of,
    create_account,
    csrf,
    csrf_from,
    enrol_app,
    outbox,
    register,
    sign_in,
    sign_out_via,
)
from tests.mfa.flows import remaining_codes, session_row


def recovered_account(app, client, email: bool = True) -> list[str]:
    """alice, registered through the screens with the app; returns her recovery codes.
    Ends signed out."""
    if email:
        create_account(app, "alice", email_address="alice@example.com", confirmed=True,
                       second_factor=None)
    else:
        create_account(app, "alice", second_factor=None)
    sign_in(client, "alice")
    _, codes = enrol_app(app, client)
    sign_out_via(client)
    return codes


def post_recovery_code(client, code: str):
    return client.post("/2fa/recover", data={"csrf_token": csrf(client, "/2fa/recover"),
                                             "code": code})


def test_one_recovery_code_signs_in_and_says_so_J10_S13_D2(app, client):
    codes = recovered_account(app, client)
    sign_in(client, "alice")
    challenge = client.get("/2fa/challenge").get_data(as_text=True)
    assert 'href="/2fa/recover"' in challenge and "Recover the account" in challenge

    response = post_recovery_code(client, codes[3])
    assert response.headers["Location"] == "/2fa/done"
    row = session_row(app, client)
    assert row.level == FULL and row.amr == "pwd kba"
    done = client.get("/2fa/done").get_data(as_text=True)
    assert "You signed in with a recovery code" in done  # urges a new set-up
    assert "/2fa/setup" in done
    assert remaining_codes(app, "alice") == 9
    assert ">9<" in done.replace(" ", "").replace("\n", "")

    mail = outbox(app)[-1]
    assert mail["To"] == "alice@example.com"
    assert "9 recovery codes left" in body_of(mail)
    used = audit_events(app, events.RECOVERY_CODE_USED)[-1]
    assert used.details == {"remaining": 9}


def test_a_recovery_code_works_once_J10_S13(app, client):
    codes = recovered_account(app, client)
    sign_in(client, "alice")
    assert post_recovery_code(client, codes[0]).status_code == 303
    sign_out_via(client)
    sign_in(client, "alice")
    again = post_recovery_code(client, codes[0])
    assert again.status_code == 401
    assert "already used" in again.get_data(as_text=True)
    assert session_row(app, client).level == PASSWORD
    assert post_recovery_code(client, codes[1].lower().replace("-", "")).status_code == 303


def test_two_concurrent_redemptions_of_one_code_one_wins_J10_S13(app, client):
    codes = recovered_account(app, client)
    clients = [app.test_client() for _ in range(2)]
    tokens = []
    for other in clients:
        sign_in(other, "alice")
        tokens.append(csrf(other, "/2fa/recover"))
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def submit(other, token) -> None:
        barrier.wait()
        statuses.append(other.post("/2fa/recover",
                                   data={"csrf_token": token, "code": codes[0]}).status_code)

    workers = [threading.Thread(target=submit, args=pair)
               for pair in zip(clients, tokens, strict=True)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(statuses) == [303, 401]
    assert remaining_codes(app, "alice") == 9


def test_wrong_recovery_codes_count_toward_the_lock_S7(app, client):
    codes = recovered_account(app, client, email=False)
    sign_in(client, "alice")
    for _ in range(5):
        assert post_recovery_code(client, "AAAA-BBBB-CCCC-DDDD").status_code == 401
    locked = post_recovery_code(client, codes[0])
    assert locked.status_code == 429
    assert remaining_codes(app, "alice") == 10  # nothing was checked, nothing burnt
    assert events.RECOVERY_CODE_FAILURE in [e.tag for e in audit_events(app)]


def test_no_mail_when_there_is_no_confirmed_address(app, client):
    codes = recovered_account(app, client, email=False)
    before = len(outbox(app))
    sign_in(client, "alice")
    assert post_recovery_code(client, codes[0]).status_code == 303
    assert len(outbox(app)) == before


def test_lost_method_and_codes_page_says_what_to_do_J11(app, client):
    create_account(app, "alice")
    sign_in(client, "alice")
    recover = client.get("/2fa/recover").get_data(as_text=True)
    assert 'href="/2fa/lost"' in recover
    page = client.get("/2fa/lost")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Register a new username and password" in text
    assert 'href="/register"' in text
    assert "not even the help desk" in text
    assert session_row(app, client).level == PASSWORD  # nothing was granted


def test_a_new_registration_from_the_lost_page_starts_clean_J11(app, client):
    create_account(app, "alice")
    sign_in(client, "alice")
    client.get("/2fa/lost")
    assert register(client, "alice2").headers["Location"] == "/register/questions"  # J2, then J8
    row = session_row(app, client)
    assert row.level == PASSWORD
    setup = client.get("/2fa/setup")
    assert setup.status_code == 200 and csrf_from(setup)
    assert audit.REGISTERED in [e.tag for e in audit_events(app)]


def test_the_urge_to_set_up_again_ends_once_it_is_done_J10_J9(app, client, clock):
    codes = recovered_account(app, client)
    sign_in(client, "alice")
    post_recovery_code(client, codes[0])
    assert "You signed in with a recovery code" in client.get("/2fa/manage").get_data(as_text=True)
    clock.advance(seconds=30)
    enrol_app(app, client)  # set up again from the success page
    assert "You signed in with a recovery code" not in client.get("/2fa/manage").get_data(as_text=True)
