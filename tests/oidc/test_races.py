"""Races on real connections (issue 9, "never tried"): one authorization code and one
refresh token redeemed by 20 requests at once. Exactly one wins; the others count as
reuse, which takes back what the winner was given (S32: the code's tokens; S40: the
whole refresh chain), even when the reuse is seen before the winner has saved them.

Runs on PostgreSQL whenever IDP_TEST_DATABASE_URL is set (each thread has its own
connection and transaction); on SQLite too, where writers queue on the file lock.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable

from flask import Flask
from werkzeug.test import TestResponse

from idp import audit
from tests.helpers import audit_events
from tests.oidc.conftest import full_flow, sign_in_through
from tests.oidc.rp import RelyingParty, Request

ATTEMPTS = 20


def at_once(app: Flask, send: Callable[[object], TestResponse]) -> list[TestResponse]:
    """``send`` from ATTEMPTS threads released together, each with its own client."""
    barrier = threading.Barrier(ATTEMPTS)
    results: list[TestResponse | BaseException] = [RuntimeError("not run")] * ATTEMPTS

    def run(index: int) -> None:
        client = app.test_client()
        barrier.wait()
        try:
            results[index] = send(client)
        except BaseException as error:  # reported below, never swallowed
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(ATTEMPTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, failures
    return [r for r in results if isinstance(r, TestResponse)]


def _introspect(portal: RelyingParty, token: str) -> bool:
    basic = base64.b64encode(f"{portal.client_id}:{portal.secret}".encode()).decode()
    answer = portal.app.test_client().post("/introspect", data={"token": token},
                                           headers={"Authorization": f"Basic {basic}"})
    return bool(answer.get_json()["active"])


def test_one_code_redeemed_20_times_at_once_one_wins_and_reuse_revokes_S32(app, portal, alice):
    req = Request()
    params = sign_in_through(portal, app.test_client(), req)
    responses = at_once(app, lambda c: portal.exchange(c, params["code"], req))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * (ATTEMPTS - 1), statuses
    assert {r.get_json()["error"] for r in responses if r.status_code == 400} == {"invalid_grant"}
    won = next(r.get_json() for r in responses if r.status_code == 200)
    assert not _introspect(portal, won["access_token"]), "a reused code takes back its tokens"
    assert not _introspect(portal, won["refresh_token"])
    assert len(audit_events(app, audit.OIDC_CODE_REUSED)) == ATTEMPTS - 1


def test_one_refresh_token_used_20_times_at_once_one_wins_and_the_chain_dies_S40(
        app, portal, alice):
    flow = full_flow(portal)
    refresh = {"grant_type": "refresh_token", "refresh_token": flow.tokens["refresh_token"]}
    responses = at_once(app, lambda c: portal.token(c, refresh))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * (ATTEMPTS - 1), statuses
    won = next(r.get_json() for r in responses if r.status_code == 200)
    for token in (won["access_token"], won["refresh_token"], flow.tokens["access_token"]):
        assert not _introspect(portal, token), "reuse revokes the whole chain"
    assert audit_events(app, audit.OIDC_REFRESH_REUSED)
