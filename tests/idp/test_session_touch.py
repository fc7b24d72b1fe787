"""The activity time of a session (D5) written as cheaply as it can be (issue 11).

Within ``touch_interval_seconds`` of the last write a page writes nothing; after it, the
new time is one UPDATE of its own (a single round trip on PostgreSQL) when it is the
request's only write, and part of the request's transaction when the view wrote too.
The abuses: a session ended by another tab while a page was being served, and a view's
write rolled back while the activity time stays.
"""

from __future__ import annotations

from flask import Flask

from idp.models import WebSession
from idp.sessions import session_id
from tests.helpers import create_account, session_row, session_token
from tests.idp.test_sessions import signed_in
from tests.perf.round_trips import round_trips


def test_d5_activity_within_the_interval_writes_nothing(app: Flask, clock) -> None:
    create_account(app, "alice")
    client = signed_in(app)
    token = session_token(app, client)
    seen = session_row(app, token).last_seen_at
    clock.advance(seconds=59)
    with round_trips(app.extensions["clef"].engine) as trips:
        assert client.get("/account").status_code == 200
    assert session_row(app, token).last_seen_at == seen
    assert trips.count("UPDATE") == 0 and trips.commits == 0


def test_d5_the_activity_time_alone_is_one_statement(app: Flask, clock, backend: str) -> None:
    create_account(app, "alice")
    client = signed_in(app)
    token = session_token(app, client)
    clock.advance(seconds=60)
    with round_trips(app.extensions["clef"].engine) as trips:
        assert client.get("/account").status_code == 200
    assert session_row(app, token).last_seen_at == clock.now()
    assert trips.count("UPDATE sessions SET last_seen_at") == 1, trips.statements
    assert trips.count("UPDATE") == 1
    if backend == "postgresql":
        assert (trips.begins, trips.commits, trips.rollbacks) == (0, 0, 0), trips.log


def test_d5_a_session_ended_in_another_tab_stays_ended(app: Flask, clock) -> None:
    """The row is deleted (a logout elsewhere) after this page loaded the session and
    before it records the activity: the page answers, and the session is not revived."""
    def ended_elsewhere() -> str:
        with app.extensions["clef"].session_factory() as other:
            other.delete(other.get(WebSession, session_id(token)))
            other.commit()
        return "ended"

    app.add_url_rule("/test/ended-elsewhere", view_func=ended_elsewhere)
    create_account(app, "alice")
    client = signed_in(app)
    token = session_token(app, client)
    clock.advance(seconds=60)
    assert client.get("/test/ended-elsewhere").status_code == 200
    assert session_row(app, token) is None
    assert client.get("/account").status_code == 303  # to sign in


def test_d5_the_activity_time_goes_with_the_views_write(app: Flask, clock, backend: str) -> None:
    """A page that stores a value and is due for an activity write writes both in one
    UPDATE of the two columns, its only write: one commit (on PostgreSQL, autocommit)."""
    def writes() -> str:
        from flask import session

        session["marker"] = "set"
        return "written"

    app.add_url_rule("/test/writes", view_func=writes)
    create_account(app, "alice")
    client = signed_in(app)
    token = session_token(app, client)
    clock.advance(seconds=60)
    with round_trips(app.extensions["clef"].engine) as trips:
        assert client.get("/test/writes").status_code == 200
    row = session_row(app, token)
    assert row.last_seen_at == clock.now() and row.data.get("marker") == "set"
    assert trips.count("UPDATE") == 1, trips.statements  # one UPDATE with both
    written = next(s for s in trips.statements if s.startswith("UPDATE"))
    assert "data=" in written and "last_seen_at=" in written, written
    if backend == "postgresql":  # the request's only write: alone, one round trip
        assert (trips.begins, trips.commits, trips.rollbacks) == (0, 0, 0), trips.log
    else:
        assert trips.commits == 1


def test_d5_the_activity_time_joins_the_views_transaction(app: Flask, clock) -> None:
    """A view that writes something else (an audit event) and leaves it to the request's
    end: the activity time is written in the same transaction, one commit."""
    def writes() -> str:
        from idp import audit
        from idp.runtime import db

        audit.record(db(), clock.now(), "test:marker", actor="alice")
        return "written"

    app.add_url_rule("/test/audits", view_func=writes)
    create_account(app, "alice")
    client = signed_in(app)
    token = session_token(app, client)
    clock.advance(seconds=60)
    with round_trips(app.extensions["clef"].engine) as trips:
        assert client.get("/test/audits").status_code == 200
    assert session_row(app, token).last_seen_at == clock.now()
    assert trips.count("UPDATE sessions SET last_seen_at") == 1, trips.statements
    assert trips.commits == 1
