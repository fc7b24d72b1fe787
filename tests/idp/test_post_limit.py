"""``post_limit`` (issue 11): the sign-in and second-factor pages skip the limiter on
GET, and the POST they guard is limited exactly as before (counted directly on the
limiter's strategy: tests/idp/test_post_limit_direct.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, request

from idp.ratelimit import VIEWS_ONLY, limiter
from tests.support.screens import csrf_from


def test_pages_viewed_do_not_spend_the_allowance_and_posts_are_still_refused(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(rate_limit={"signin_per_ip": "2/minute"})
    assert app.config[VIEWS_ONLY] is True
    browser = app.test_client()
    for _ in range(5):
        page = browser.get("/signin")
        assert page.status_code == 200
    form = {"csrf_token": csrf_from(page), "username": "nobody", "password": "wrong password"}
    assert [browser.post("/signin", data=form).status_code for _ in range(3)] == [401, 401, 429]
    assert browser.get("/signin").status_code == 200  # the page still shows, as before


def test_the_limiter_is_skipped_on_get_only_when_nothing_else_applies(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A default, application or meta limit (VIEWS_ONLY off) applies to a GET too: then
    the page, and its POST, go through the limiter's decorator again; otherwise neither
    does (the POST is counted directly)."""
    app = make_app()
    checks: list[str] = []
    original = limiter._check_request_limit

    def spy(*args: Any, **kwargs: Any) -> None:
        checks.append(request.method)
        original(*args, **kwargs)

    monkeypatch.setattr(limiter, "_check_request_limit", spy)
    browser = app.test_client()
    page = browser.get("/signin")
    browser.post("/signin", data={"csrf_token": csrf_from(page), "username": "nobody",
                                  "password": "wrong password"})
    assert checks == []
    app.config[VIEWS_ONLY] = False
    page = browser.get("/signin")
    browser.post("/signin", data={"csrf_token": csrf_from(page), "username": "nobody",
                                  "password": "wrong password"})
    assert checks == ["GET", "POST"]
