"""Security keys abused (D3, S10, S28): two removals raced, and answers the library
cannot read. Each test failed before its fix (the last key went with the race in a few
rounds; the others were 500s). Found by an adversarial review."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mfa.security_keys import browser_origin
from tests.at_once import at_once, clones
from tests.helpers import create_account, csrf_from, sign_in, sign_out_via
from tests.mfa.test_security_key_flow import (
    ORIGIN,
    _keys,
    answer_challenge,
    enrolled_with_key,
    register_key,
)
from tests.support.soft_key import SoftKey, page_options

# 10 kB of nested arrays: under the form's 16,000 characters and the body limit, valid
# JSON, deeper than the json module can read (RecursionError).
DEEP = "[" * 5000 + "]" * 5000


def test_s10_two_keys_removed_at_once_leave_one(app: Flask, client: FlaskClient) -> None:
    """An account with two keys and no app removes both at once (two tabs): each removal
    counted two keys before either deleted, and the account was left without a second
    factor, so its password alone reached the set-up of a new one. One removal passes;
    the other is told the last factor stays."""
    create_account(app, "alice", second_factor=None)
    sign_in(client, "alice")
    register_key(client, SoftKey(ORIGIN), "one")
    token = csrf_from(client.get("/2fa/recovery-codes"))
    client.post("/2fa/recovery-codes", data={"csrf_token": token, "saved": "y"})
    for round_ in range(12):  # a race: it showed within a few rounds
        assert register_key(client, SoftKey(ORIGIN), f"two-{round_}").status_code == 303
        token = csrf_from(client.get("/2fa/manage"))
        ids = [key.id for key in _keys(app)]
        assert len(ids) == 2
        answers = at_once(2, _removing(clones(app, client, 2), ids, token))
        assert len(_keys(app)) == 1, f"round {round_}"
        assert sorted(a.headers["Location"].rsplit("?", 1)[-1] for a in answers) \
            == ["last=1", "removed=1"]


def _removing(tabs: list[FlaskClient], ids: list[int], token: str) -> Callable[[int], Any]:
    """Tab ``i`` removes key ``ids[i]``."""
    return lambda i: tabs[i].post(f"/2fa/keys/{ids[i]}/remove", data={"csrf_token": token})


@pytest.mark.parametrize("where", ["response", "top"])
@pytest.mark.parametrize("transports", [5, True, 1.5, {"usb": 1}])
def test_a_registration_with_transports_not_a_list_is_kept_without_them(
        app: Flask, client: FlaskClient, where: str, transports: object) -> None:
    create_account(app, "alice", second_factor=None)
    sign_in(client, "alice")
    page = client.get("/2fa/setup/key")
    answer = json.loads(SoftKey(ORIGIN).create(page_options(page.get_data(as_text=True))))
    if where == "response":
        answer["response"]["transports"] = transports
    else:
        answer["response"].pop("transports", None)
        answer["transports"] = transports
    response = client.post("/2fa/setup/key", data={
        "csrf_token": csrf_from(page), "name": "k", "credential": json.dumps(answer)})
    assert response.status_code == 303
    assert [key.transports for key in _keys(app)] == [""]


def test_a_sign_in_answer_nested_too_deep_is_refused(app: Flask, client: FlaskClient) -> None:
    enrolled_with_key(app, client)
    sign_out_via(client)
    sign_in(client, "alice")
    response, _ = answer_challenge(client, None, replay=DEEP)
    assert response.status_code == 401


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_a_registration_nested_too_deep_is_refused(app: Flask, client: FlaskClient,
                                                   lang: str) -> None:
    create_account(app, "alice", second_factor=None)
    sign_in(client, "alice")
    page = client.get(f"/2fa/setup/key?ui_locales={lang}")
    response = client.post("/2fa/setup/key", data={
        "csrf_token": csrf_from(page), "name": "k", "credential": DEEP})
    assert response.status_code == 400
    assert _keys(app) == []


@pytest.mark.parametrize(("base_url", "origin"), [
    ("https://idp.example:443", "https://idp.example"),
    ("https://IDP.Example/", "https://idp.example"),
    ("https://idp.example:8443/clef", "https://idp.example:8443"),
    ("http://127.0.0.1:80", "http://127.0.0.1"),
    ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ("https://[::1]:443", "https://[::1]"),
])
def test_the_origin_expected_is_the_one_a_browser_reports(base_url: str, origin: str) -> None:
    """HTML's serialisation of an origin: a base URL naming its scheme's default port
    (or a host in capitals) made every key's answer refused."""
    assert browser_origin(base_url) == origin


def test_a_key_registers_where_the_base_url_names_its_default_port(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(service={"base_url": "http://127.0.0.1:80"})
    create_account(app, "alice", second_factor=None)
    client = app.test_client()
    sign_in(client, "alice")
    assert register_key(client, SoftKey("http://127.0.0.1"), "k").status_code == 303
    assert len(_keys(app)) == 1
