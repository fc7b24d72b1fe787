"""Issue 11: discovery and the JWKS are served from memory (no SQL, no commit, cached
bytes with an ETag), and key rotation still reaches every process in time (S42)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from sqlalchemy import event

from idp.oidc.keys import JWKS_MEMORY
from idp.oidc.runtime import EXTENSION_KEY
from tests.helpers import run_cli


@contextmanager
def counted(app: Flask) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = app.extensions["clef"].engine

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def kids(response) -> set[str]:  # type: ignore[no-untyped-def]
    return {key["kid"] for key in response.get_json()["keys"]}


def test_issue11_jwks_and_discovery_from_memory_with_etag(app: Flask) -> None:
    client = app.test_client()
    first = client.get("/jwks")
    assert first.status_code == 200 and len(kids(first)) == 2
    for path in ("/jwks", "/.well-known/openid-configuration"):
        client.get(path)
        with counted(app) as statements:
            again = client.get(path)
            assert again.status_code == 200
            etag = again.headers["ETag"]
            assert again.headers["Cache-Control"] == "public, max-age=300"
            not_modified = client.get(path, headers={"If-None-Match": etag})
        assert statements == [], path
        assert not_modified.status_code == 304 and not_modified.get_data() == b""
    document = client.get("/.well-known/openid-configuration").get_json()
    assert document["jwks_uri"].endswith("/jwks") and document["issuer"] == "http://127.0.0.1:5000"


def test_issue11_s42_rotation_in_another_process_is_published_before_the_keys_sign(
    app: Flask, make_app, clock  # type: ignore[no-untyped-def]
) -> None:
    web = app.test_client()
    before = kids(web.get("/jwks"))
    operator = make_app()  # `clef keys rotate` runs in its own process, on the same database
    assert run_cli(operator, "keys", "rotate").exit_code == 0
    assert kids(web.get("/jwks")) == before  # this process still serves its copy...
    clock.advance(seconds=JWKS_MEMORY.total_seconds())
    after = kids(web.get("/jwks"))  # ...for at most JWKS_MEMORY,
    assert before < after and len(after) == 4
    lead = app.extensions["clef"].settings.oidc.key_publish_lead_minutes
    assert JWKS_MEMORY.total_seconds() < lead * 60  # well before the new keys sign


def test_issue11_s42_rotation_in_this_process_is_published_at_once(app: Flask) -> None:
    web = app.test_client()
    before = kids(web.get("/jwks"))
    assert run_cli(app, "keys", "rotate").exit_code == 0
    after = kids(web.get("/jwks"))
    assert before < after and len(after) == 4


def test_issue11_s42_the_signing_key_follows_a_rotation_in_another_process(
    app: Flask, make_app, clock  # type: ignore[no-untyped-def]
) -> None:
    """Which key signs is known from memory (no query per code exchange), and a key
    published by another process is seen before it may sign: after the publish lead,
    ID tokens carry the new kid; the old key, still published, no longer signs."""
    keys = app.extensions[EXTENSION_KEY].signing_keys
    factory = app.extensions["clef"].session_factory
    with factory() as db:
        first = keys.current(db, "RS256", clock.now()).kid
        with counted(app) as statements:
            assert keys.current(db, "RS256", clock.now()).kid == first
        assert statements == []
    operator = make_app()
    assert run_cli(operator, "keys", "rotate").exit_code == 0
    lead = app.extensions["clef"].settings.oidc.key_publish_lead_minutes
    clock.advance(minutes=lead)
    with factory() as db:
        now_signing = keys.current(db, "RS256", clock.now()).kid
    assert now_signing != first
    assert now_signing in kids(app.test_client().get("/jwks"))
