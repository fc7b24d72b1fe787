"""Health endpoints for load balancers and orchestrators (issue 11, operability).

``/healthz``: the process answers (no database, no Redis), for a liveness probe.
``/readyz``: the database, and Redis when the rate limits are kept there, answer now;
503 otherwise, so a load balancer sends no one to an instance that would only show the
"technical difficulties" page. Both are cheap, never rate-limited, never open a session,
and say only "ok" or "unavailable" per dependency (no error text, no address).
"""

from __future__ import annotations

import logging

import redis
from flask import Blueprint, Flask, Response, current_app, jsonify
from sqlalchemy import text

from idp.ratelimit import limiter
from idp.runtime import services

log = logging.getLogger("clef.health")
bp = Blueprint("health", __name__)
REDIS_KEY = "CLEF_HEALTH_REDIS"
PROBE_TIMEOUT_SECONDS = 2.0


@bp.get("/healthz")
@limiter.exempt
def healthz() -> Response:
    return _answer({"status": "ok"}, 200)


@bp.get("/readyz")
@limiter.exempt
def readyz() -> Response:
    checks = {"database": _database_ok()}
    client: redis.Redis | None = current_app.extensions.get(REDIS_KEY)
    if client is not None:
        checks["redis"] = _redis_ok(client)
    ready = all(checks.values())
    body = {"status": "ok" if ready else "unavailable",
            **{name: "ok" if ok else "unavailable" for name, ok in checks.items()}}
    return _answer(body, 200 if ready else 503)


def _answer(body: dict[str, str], status: int) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _database_ok() -> bool:
    try:
        with services().engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # any failure means "not ready"; the reason goes to the log
        log.warning("readyz: the database does not answer (%s)", type(error).__name__)
        return False
    return True


def _redis_ok(client: redis.Redis) -> bool:
    try:
        client.ping()
    except Exception as error:
        log.warning("readyz: Redis does not answer (%s)", type(error).__name__)
        return False
    return True


def init_app(app: Flask, storage_url: str) -> None:
    """Serve the probes; ``storage_url`` is the rate limits' store (checked when Redis)."""
    if storage_url.startswith(("redis://", "rediss://")):
        app.extensions[REDIS_KEY] = redis.Redis.from_url(
            storage_url, socket_timeout=PROBE_TIMEOUT_SECONDS,
            socket_connect_timeout=PROBE_TIMEOUT_SECONDS)
    app.register_blueprint(bp)
