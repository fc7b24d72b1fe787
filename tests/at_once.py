"""Races for the tests: the same request sent by many threads at once, each with its
own test client and so its own database connection (the app's pool), released together
by a barrier so they really overlap."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import session_token, set_session_token

T = TypeVar("T")


def at_once(count: int, action: Callable[[int], T], timeout: float = 120) -> list[T]:
    """Run ``action(0)`` ... ``action(count - 1)`` on ``count`` threads released at the
    same moment; every result, in order. Fails when any raised or none finished."""
    barrier = threading.Barrier(count)
    results: dict[int, T] = {}
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout)
            results[index] = action(index)
        except BaseException as error:  # reported to the test below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a racer never finished"
    assert not errors, errors
    return [results[i] for i in range(count)]


def clones(app: Flask, client: FlaskClient, count: int) -> list[FlaskClient]:
    """``count`` clients presenting ``client``'s session cookie: one browser's session
    (a code bound to it, a flow's token in it) sending the same request many times."""
    token = session_token(app, client)
    assert token is not None
    made = []
    for _ in range(count):
        clone = app.test_client()
        set_session_token(app, clone, token)
        made.append(clone)
    return made
