"""Per-client-address limits with Flask-Limiter (D4, S27): in memory in the embedded
default, in Redis when several instances must share one count.

The client address is ``request.remote_addr``; it is the real client only because the
app factory applies ProxyFix for exactly ``rate_limit.trusted_proxies`` proxies (0 by
default), so a forged X-Forwarded-For cannot dodge a limit.

Cost per request (issue 11): the sliding-window counter is one Redis script call per
limit (two counters, the previous window weighted), where the moving window kept one
entry per request and an ``X-RateLimit`` header read each window again (a second round
trip). At a window's edge it does not let a second full limit through at once, as a
fixed window would: the last window's count, weighted by how much of it the sliding
window still covers, is held to the limit. That count is an estimate (hits bunched at
the end of the last window are weighted as if spread over it) and is rounded down, so
just after the edge one request more than the limit can pass (the tests keep clear of
that instant: tests/support/limit_windows.py). The in-memory store sweeps expired keys
inline once a second instead of starting a timer thread per request.

A limit can also be counted directly (:func:`hit`, issue 11): one call to the limiter's
strategy under the very key Flask-Limiter's decorator builds, without the decorator's
per-request resolution of the view's limits, its request state and its after-request
hooks (about 400 function calls around one store call). :func:`counts_directly` says
when that is exactly what the decorator would do; otherwise the decorator counts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from functools import lru_cache, wraps
from typing import Any, TypeVar

from flask import Flask, current_app, request
from flask.globals import request_ctx
from flask_limiter import Limiter
from flask_limiter._limits import RuntimeLimit
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage

STRATEGY = "sliding-window-counter"
# Where Flask-Limiter keeps a request's state, on the request context, once it checks a limit.
LIMITER_STATE = "_limiter_request_context"
SWEEP_SECONDS = 1.0
# Set by init_limiter: no limit is applied outside the views' own decorators.
VIEWS_ONLY = "CLEF_LIMITS_IN_VIEWS_ONLY"
F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("clef.ratelimit")

limiter = Limiter(key_func=get_remote_address, strategy=STRATEGY)


class SweptMemoryStorage(MemoryStorage):
    """``memory://`` without a thread per request: limits' MemoryStorage starts a
    ``threading.Timer`` on nearly every hit to drop expired keys; here the same sweep
    runs in the request, at most once per ``SWEEP_SECONDS`` (expired counters are
    already ignored when read, so the sweep only bounds memory)."""

    STORAGE_SCHEME = ["clef-memory"]  # noqa: RUF012 (limits' registry reads a list)

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.next_sweep = time.monotonic() + SWEEP_SECONDS

    def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now >= self.next_sweep:
            self.next_sweep = now + SWEEP_SECONDS
            getattr(self, "_MemoryStorage__expire_events")()  # noqa: B009 (a mangled name)


def init_limiter(app: Flask) -> None:
    """Flask-Limiter on ``app``, its per-request hooks kept only where they have work.

    Every Clef limit is a decorator on its view, checked when the view runs (and the
    store's recovery after an outage is tried there too). The extension's own
    before-request hook applies only default, application, blueprint and meta limits;
    Clef sets none, so on every request it resolved the endpoint's limits to nothing
    (about 15% of a discovery request, issue 11). It is dropped while there is nothing
    for it to apply, and kept, unchanged, the day one of those is configured. Its
    after-request hook (headers, conditional deductions) and teardown (a reset of the
    request's limiter state) run only in a request where a limit was checked."""
    limiter.init_app(app)
    before = app.before_request_funcs.setdefault(None, [])
    app.config[VIEWS_ONLY] = not _middleware_limits(app)
    if app.config[VIEWS_ONLY]:
        before[:] = [hook for hook in before if not _is_limiter_hook(hook, "_check_request_limit")]
    for table in (app.after_request_funcs, app.teardown_request_funcs):
        hooks = table.setdefault(None, [])
        hooks[:] = [_when_limited(hook) if _is_limiter_hook(hook) else hook for hook in hooks]


def post_limit(value: Callable[[], str] | str, *, scope: str) -> Callable[[F], F]:
    """``limiter.limit(value, methods=["POST"], scope=scope)`` for a page whose form
    posts back to it, at a fraction of the limiter's cost (issue 11).

    The page's GET skips the limiter (it resolved the view's limits, found none for GET,
    and still left its request state behind for the after-request hooks: about 500
    function calls per sign-in page). The POST is counted directly whenever
    :func:`counts_directly`: :func:`hit`, on the decorator's strategy, under its key
    ``[prefix/]<address>/<endpoint>:<scope>``, one hit per item of ``value`` in its
    order (``"30/minute;300/hour"``: two store calls, as before), so both paths share
    one count; a breach raises the decorator's ``RateLimitExceeded`` (the 429 page of
    ``idp.errors``, Retry-After). Anything else goes through the decorator unchanged: a
    limit string that does not parse (its error), a store found dead (its in-memory
    fallback and recovery checks) or failing during the count (marked dead as the
    decorator marks it, then the decorator counts in memory, or swallows or raises as
    configured), and every method whenever a default, application or meta limit is
    configured (they apply to a GET too)."""

    def decorate(view: F) -> F:
        limited = limiter.limit(value, methods=["POST"], scope=scope)(view)

        @wraps(view)
        def run(*args: Any, **kwargs: Any) -> Any:
            config = current_app.config
            if request.method != "POST":
                if config.get(VIEWS_ONLY):
                    return current_app.ensure_sync(view)(*args, **kwargs)
                return limited(*args, **kwargs)
            limit_string = value() if callable(value) else value
            if not counts_directly(config):
                return limited(*args, **kwargs)
            try:
                limit_items(limit_string)
            except ValueError:  # a limit string that does not parse: the decorator's error
                return limited(*args, **kwargs)
            try:
                breached = hit(limiter._key_func(), limit_string, limiter.identify_request(),
                               scope)
            except Exception:
                store_failed()
                return limited(*args, **kwargs)
            if breached is not None:
                raise refusal(breached, limiter._key_func, scope, methods=("POST",))
            return current_app.ensure_sync(view)(*args, **kwargs)

        return run  # type: ignore[return-value]

    return decorate


@lru_cache(maxsize=32)
def limit_items(value: str) -> tuple[RateLimitItem, ...]:
    """The parsed limit string, in Flask-Limiter's order of checking (smallest first);
    none for an empty string (the decorator then applies no limit)."""
    return tuple(sorted(parse_many(value))) if value else ()


def counts_directly(config: Mapping[str, Any]) -> bool:
    """True when a direct count is exactly what the decorator would do: the store alive
    (a dead one is the decorator's, with its in-memory fallback and its recovery
    checks), no request filter, no rate-limit headers to add, no breach callback, a
    breach that stops the count (``fail_on_first_breach``, the default: :func:`hit`
    stops there too), and no default, application or meta limit (``config``: the
    app's)."""
    return bool(config.get(VIEWS_ONLY) and limiter.enabled and limiter.initialized
                and not getattr(limiter, "_storage_dead", True)
                and not getattr(limiter, "_request_filters", True)
                and not limiter._headers_enabled and limiter._on_breach is None
                and limiter._fail_on_first_breach)


def hit(key: str, value: str, endpoint: str, scope: str) -> RateLimitItem | None:
    """One hit per item of ``value`` on the limiter's strategy under the decorator's key
    (``[prefix/]key/endpoint:scope``), in its order, stopping at the first breach as the
    decorator does with ``fail_on_first_breach`` (its default): the item breached (logged
    as the decorator logs it), or None. Raises when the store fails
    (:func:`store_failed`)."""
    where = f"{endpoint}:{scope}"
    prefix = limiter._key_prefix
    identifiers = (prefix, key, where) if prefix else (key, where)
    strategy = limiter.limiter
    for item in limit_items(value):
        if not strategy.hit(item, *identifiers):
            log.info("ratelimit %s (%s) exceeded at endpoint: %s", item, key, where)
            return item
    return None


def store_failed() -> bool:
    """The store failed during a direct count. With the in-memory fallback on, it is
    marked dead as Flask-Limiter marks it (no public setter) and True is returned: the
    decorator counts the request (in memory) from now on. Else False, nothing marked:
    the caller leaves the failure to the decorator (which swallows or raises it as
    configured) or raises it."""
    if not getattr(limiter, "_in_memory_fallback_enabled", False):
        return False
    log.warning("Rate limit storage unreachable - falling back to in-memory storage")
    limiter._storage_dead = True
    return True


def refusal(item: RateLimitItem, key_func: Callable[[], str], scope: str,
            methods: tuple[str, ...] | None = None) -> RateLimitExceeded:
    """The decorator's exception for a breach of ``item`` (answered by ``idp.errors``:
    the 429 page, Retry-After from the item's window)."""
    return RateLimitExceeded(RuntimeLimit(item, key_func, scope, methods=methods))


def _is_limiter_hook(hook: Any, name: str | None = None) -> bool:
    """True for a hook Flask-Limiter registered (a bound method or a partial of one)."""
    owner = getattr(hook, "__self__", None) or (getattr(hook, "args", None) or (None,))[0]
    if owner is not limiter:
        return False
    function = getattr(hook, "__func__", None) or getattr(hook, "func", None)
    return name is None or getattr(function, "__name__", "") == name


def _when_limited(hook: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``hook`` run only when this request checked a limit (the extension then keeps its
    state on the request context); otherwise its argument passes through untouched."""

    def run(value: Any) -> Any:
        if getattr(request_ctx, LIMITER_STATE, None) is None:
            return value
        return hook(value)

    function = getattr(hook, "__func__", None) or getattr(hook, "func", None)
    run.__name__ = getattr(function, "__name__", "limiter_hook")
    return run


def _middleware_limits(app: Flask) -> bool:
    """True when the limiter's before-request hook would apply a limit to some request."""
    manager = limiter.limit_manager
    return bool(
        manager.application_limits or manager.default_limits
        or getattr(manager, "_blueprint_limits", None)
        or getattr(limiter, "_meta_limits", None)
        or getattr(limiter, "_in_memory_fallback", None)
        or app.config.get("RATELIMIT_DEFAULT") or app.config.get("RATELIMIT_APPLICATION")
        or app.config.get("RATELIMIT_META")
    )


def storage_uri(url: str) -> str:
    """The store Flask-Limiter opens for setting ``rate_limit.storage_url``."""
    return "clef-memory://" if url == "memory://" else url


def retry_after(error: Any) -> str:
    """Seconds until a refused client may try again: at most the limit's window (the
    sliding counter frees capacity within it), known without asking the store."""
    limit = getattr(error, "limit", None)
    inner = getattr(limit, "limit", None)
    return str(int(inner.get_expiry())) if inner is not None else "60"


def configured(name: str) -> Callable[[], str]:
    """The limit string of setting ``rate_limit.<name>``, read per request."""

    def limit() -> str:
        value: str = current_app.config["CLEF_RATE_LIMITS"][name]
        return value

    return limit
