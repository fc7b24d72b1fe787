"""Error pages (J5): every error is a bilingual page with a way on, never a stack
trace (S28). Unexpected exceptions are logged with their trace and shown as 500."""

from __future__ import annotations

import logging

from flask import Flask, render_template
from flask_babel import lazy_gettext as _l
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger("clef.errors")

TITLES = {
    400: _l("The request could not be understood"),
    403: _l("Access refused"),
    404: _l("Page not found"),
    405: _l("Action not allowed here"),
    429: _l("Too many requests"),
    500: _l("Technical difficulties"),
}
MESSAGES = {
    400: _l("Something in the request was not right. Go back, reload the page and try again."),
    403: _l("You cannot open this page."),
    404: _l("We could not find that page. Check the address, or start again from the home page."),
    405: _l("This page cannot be used that way. Start again from the home page."),
    429: _l("You have made too many requests in a short time. Wait a few minutes and try again."),
    500: _l(
        "The service is having technical difficulties. Nothing you saved was lost. "
        "Try again in a few minutes."
    ),
}
CSRF_MESSAGE = _l(
    "This form has expired or was sent from another page. Go back, reload the page and try again."
)


def render_error(code: int, message: object = None) -> tuple[str, int]:
    status = code if code in TITLES else 500
    body = render_template(
        "errors/error.html",
        code=status,
        title=TITLES[status],
        message=message or MESSAGES[status],
    )
    return body, status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(_error: CSRFError) -> tuple[str, int]:
        return render_error(400, CSRF_MESSAGE)

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(_error: RateLimitExceeded) -> tuple[str, int]:
        return render_error(429)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int]:
        return render_error(error.code or 500)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[str, int]:
        if isinstance(error, HTTPException):
            return render_error(error.code or 500)
        log.exception("unhandled error", exc_info=error)
        return render_error(InternalServerError.code)
