"""Kill a request at a chosen point, as a `kill -9` of its worker would, without a
subprocess: :class:`Killed` is raised from the database driver's hooks before the n-th
write (INSERT, UPDATE, DELETE) or COMMIT of the request. It is a BaseException, so no
``except Exception`` in Clef, Authlib or Flask catches it: nothing after the point runs,
and the open transaction is lost exactly as a killed process's is (the server, or
SQLite's journal, rolls it back)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import Connection, event

WRITES = ("INSERT", "UPDATE", "DELETE")


class Killed(BaseException):
    """The process died here."""


@contextmanager
def killed_at(app: Flask, point: int) -> Iterator[list[str]]:
    """Within the block, die at the ``point``-th write or commit (1-based); yields the
    points passed so far, so a caller knows when a run got through unharmed."""
    engine = app.extensions["clef"].engine
    seen: list[str] = []

    def reach(connection: Connection, what: str) -> None:
        seen.append(what)
        if len(seen) == point:
            # The dead process's connection closes: the server rolls its transaction back.
            connection.invalidate()
            raise Killed(what)

    def on_statement(connection: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb in WRITES:
            reach(connection, statement[:60])

    def on_commit(connection: Connection) -> None:
        reach(connection, "COMMIT")

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)


def every_kill_point(app: Flask, prepare: Callable[[int], Any], act: Callable[[Any], Any],
                     state: Callable[[Any], str]) -> list[str]:
    """Run ``act(prepare(n))`` dying at point n = 1, 2, ... until a run passes every point
    alive; ``state`` tells what each death (and the last, unharmed run) left. ``prepare``
    may hand back the same set-up while nothing of the step was written."""
    states: list[str] = []
    point = 1
    while True:
        prepared = prepare(point)
        with killed_at(app, point) as seen:
            try:
                act(prepared)
            except Killed:
                states.append(state(prepared))
                point += 1
                continue
        assert len(seen) < point, "the run got through without dying at its point"
        states.append(state(prepared))
        return states
