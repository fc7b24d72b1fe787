"""Per-client-address limits with Flask-Limiter (D4, S27): in memory in the embedded
default, in Redis when several instances must share one count.

The client address is ``request.remote_addr``; it is the real client only because the
app factory applies ProxyFix for exactly ``rate_limit.trusted_proxies`` proxies (0 by
default), so a forged X-Forwarded-For cannot dodge a limit.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address, strategy="moving-window")


def configured(name: str) -> Callable[[], str]:
    """The limit string of setting ``rate_limit.<name>``, read per request."""

    def limit() -> str:
        value: str = current_app.config["CLEF_RATE_LIMITS"][name]
        return value

    return limit
