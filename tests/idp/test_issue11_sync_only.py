"""Issue 11: Flask's per-call ``ensure_sync`` check replaced by one check of each
function when it is registered or the app is built (idp.app.SyncFlask). An async
function would never run under it, so every way one could arrive is refused."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from flask import Blueprint, Flask

from idp.app import SyncFlask, refuse_coroutine_functions


async def coroutine_view() -> str:
    return "never awaited"


def test_issue11_the_app_is_sync_only_and_hands_functions_back_unwrapped(app: Flask) -> None:
    assert isinstance(app, SyncFlask)
    refuse_coroutine_functions(app)  # what create_app ran: nothing async registered
    view = app.view_functions["oidc.userinfo"]
    assert app.ensure_sync(view) is view


def test_issue11_an_async_view_is_refused_when_registered(app: Flask) -> None:
    with pytest.raises(TypeError, match="coroutine"):
        app.add_url_rule("/async", "async_view", coroutine_view)
    with pytest.raises(TypeError, match="coroutine"):
        app.route("/async2")(coroutine_view)
    assert "async_view" not in app.view_functions


def test_issue11_an_async_view_of_a_blueprint_or_behind_a_decorator_is_refused(app: Flask) -> None:
    @functools.wraps(coroutine_view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return coroutine_view(*args, **kwargs)

    with pytest.raises(TypeError, match="coroutine"):
        app.add_url_rule("/wrapped", "wrapped", wrapper)
    bp = Blueprint("asyncbp", __name__)
    bp.add_url_rule("/x", "x", coroutine_view)
    with pytest.raises(TypeError, match="coroutine"):
        app.register_blueprint(bp, url_prefix="/asyncbp")


@pytest.mark.parametrize("table", ["before_request_funcs", "after_request_funcs",
                                   "teardown_request_funcs", "template_context_processors",
                                   "url_value_preprocessors", "url_default_functions"])
def test_issue11_an_async_hook_anywhere_fails_the_start_up_check(app: Flask, table: str) -> None:
    async def hook(*_args: Any) -> None:
        return None

    getattr(app, table).setdefault("auth", []).append(hook)
    with pytest.raises(TypeError, match="auth"):
        refuse_coroutine_functions(app)


def test_issue11_an_async_teardown_or_error_handler_fails_the_start_up_check(app: Flask) -> None:
    async def handler(_error: Any) -> str:
        return "x"

    app.teardown_appcontext_funcs.append(handler)
    with pytest.raises(TypeError, match="teardown_appcontext"):
        refuse_coroutine_functions(app)
    app.teardown_appcontext_funcs.pop()
    app.register_error_handler(418, handler)
    with pytest.raises(TypeError, match="error handler"):
        refuse_coroutine_functions(app)


def test_issue11_an_async_signal_receiver_fails_the_start_up_check(app: Flask) -> None:
    from flask import request_finished

    async def receiver(_sender: Any, **_extra: Any) -> None:
        return None

    request_finished.connect(receiver, app)
    try:
        with pytest.raises(TypeError, match="request-finished"):
            refuse_coroutine_functions(app)
    finally:
        request_finished.disconnect(receiver, app)
    refuse_coroutine_functions(app)
