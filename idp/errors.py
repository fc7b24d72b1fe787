"""Error pages (J5): every error is a bilingual page with a way on, never a stack
trace (S28). Unexpected exceptions are logged with their trace and shown as 500; a
database that cannot be reached (restarted, failed over, out of connections) is the
same "technical difficulties" page as a 503 with ``Retry-After``: nothing is wrong with
the request, and the next one, once the database is back, succeeds on a new connection
(the engine tests each pooled connection before use, idp.db)."""

from __future__ import annotations

import logging

from flask import Flask, Response, make_response, render_template
from flask_babel import lazy_gettext as _l
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from limits.errors import StorageError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError, SecurityError

from idp.ratelimit import retry_after

log = logging.getLogger("clef.errors")

TITLES = {
    400: _l("The request could not be understood"),
    403: _l("Access refused"),
    404: _l("Page not found"),
    405: _l("Action not allowed here"),
    413: _l("What you sent is too large"),
    429: _l("Too many requests"),
    500: _l("Technical difficulties"),
    503: _l("Technical difficulties"),
}
MESSAGES = {
    400: _l("Something in the request was not right. Go back, reload the page and try again."),
    403: _l("You cannot open this page."),
    404: _l("We could not find that page. Check the address, or start again from the home page."),
    405: _l("This page cannot be used that way. Start again from the home page."),
    413: _l(
        "What you sent is larger than this service accepts, so nothing was saved. Go back, "
        "shorten what you typed and try again."
    ),
    429: _l("You have made too many requests in a short time. Wait a few minutes and try again."),
    500: _l(
        "The service is having technical difficulties. Nothing you saved was lost. "
        "Try again in a few minutes."
    ),
}
MESSAGES[503] = MESSAGES[500]
RETRY_AFTER_SECONDS = "30"
CSRF_MESSAGE = _l(
    "This form has expired or was sent from another page. Go back, reload the page and try again."
)


# When even the error page cannot be drawn (no URL map for a refused Host, a database
# that is down while the page asks for the session): both languages, no template.
MINIMAL_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Error %(code)d / Erreur %(code)d</title></head>
<body><main><h1>Error %(code)d</h1><p>The service could not answer this request. Try again
later from the home page.</p><h1 lang="fr">Erreur %(code)d</h1><p lang="fr">Le service n'a pas
pu répondre à cette demande. Réessayez plus tard à partir de la page d'accueil.</p></main></body>
</html>"""


def minimal_error(code: int) -> tuple[str, int]:
    return MINIMAL_PAGE % {"code": code}, code


def render_error(code: int, message: object = None) -> tuple[str, int]:
    status = code if code in TITLES else 500
    try:
        body = render_template(
            "errors/error.html",
            code=status,
            title=TITLES[status],
            message=message or MESSAGES[status],
        )
    except Exception:  # the page itself failed; say so in the log, never on the page
        log.exception("error page %d could not be rendered", status)
        return minimal_error(status)
    return body, status


def service_unavailable(error: BaseException | None) -> bool:
    """True when ``error`` (or what it wraps) says the database (or Redis, should a
    limiter ever let its error through) cannot be reached now, rather than that Clef
    has a bug."""
    if isinstance(error, InternalServerError):
        error = error.original_exception
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, OperationalError | InterfaceError | PoolTimeout | StorageError
                      | RedisConnectionError | RedisTimeoutError)


def unavailable() -> Response:
    """The 503 page. Logged without a trace: the cause is outside Clef, and the log line
    of the failed statement or connection already says which."""
    log.error("database or rate-limit store unavailable: answered 503")
    body, status = render_error(503)
    response = make_response(body, status)
    response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(SecurityError)
    def untrusted_host(_error: SecurityError) -> tuple[str, int]:
        """A Host outside service.trusted_hosts: there is no URL map to draw links with."""
        return minimal_error(400)

    @app.errorhandler(CSRFError)
    def csrf_error(_error: CSRFError) -> tuple[str, int]:
        return render_error(400, CSRF_MESSAGE)

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(error: RateLimitExceeded) -> Response:
        body, status = render_error(429)
        response = make_response(body, status)
        response.headers["Retry-After"] = retry_after(error)
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int] | Response:
        # Flask wraps what fails outside a view (opening the session) in a 500.
        if service_unavailable(error):
            return unavailable()
        return render_error(error.code or 500)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[str, int] | Response:
        """Anything else; HTTP errors never get here, Flask gives them ``http_error``. A
        database that cannot be reached is a 503, not a 500."""
        if service_unavailable(error):
            return unavailable()
        log.exception("unhandled error", exc_info=error)
        return render_error(InternalServerError.code)
