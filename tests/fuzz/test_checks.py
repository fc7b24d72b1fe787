"""The fuzz checks can fail: each catches what it is there for (a test that cannot fail
proves nothing)."""

from __future__ import annotations

import logging

import pytest
from werkzeug.wrappers import Response

from idp.models import Account
from tests.fuzz.conftest import World


def answer(status: int, body: str = "ok") -> Response:
    return Response(body, status=status)


def test_a_5xx_or_a_trace_is_caught(world: World) -> None:
    with pytest.raises(AssertionError):
        world.check(answer(500))
    with pytest.raises(AssertionError):
        world.check(answer(400, 'Traceback (most recent call last):\n  File "/x.py"'))


def test_a_secret_in_the_answer_or_the_log_is_caught(world: World) -> None:
    secret = world.secrets[0]
    with pytest.raises(AssertionError):
        world.check(answer(200, f"<p>{secret}</p>"))
    world.check(answer(400, f'<input value="{secret}">'), sent=[secret])  # its own field
    logging.getLogger("clef").info("typed %s", secret)
    with pytest.raises(AssertionError):
        world.check(answer(200))
    logging.getLogger("clef.errors").error("unhandled error")
    with pytest.raises(AssertionError):
        world.check(answer(200))


def test_a_refused_request_that_changed_a_guarded_row_is_caught(world: World) -> None:
    before = world.guarded()
    db = world.app.extensions["clef"].session_factory()
    try:
        account = db.query(Account).filter_by(username="alice").one()
        account.locale = "fr"
        db.commit()
    finally:
        db.close()
    world.check(answer(303), before)  # not refused: may change things
    with pytest.raises(AssertionError):
        world.check(answer(401), before)
