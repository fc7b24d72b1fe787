"""One injectable clock, so tests move time instead of sleeping (STYLE.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from itsdangerous import TimestampSigner


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, an aware UTC datetime."""


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> datetime:
        """Move forward by ``timedelta(**delta)`` and return the new time."""
        self._now += timedelta(**delta)
        return self._now


def as_utc(value: datetime) -> datetime:
    """Databases that drop the zone (SQLite) hand back naive UTC; make it aware again."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def timestamp_signer(clock: Clock) -> type[TimestampSigner]:
    """itsdangerous' timestamp signer on ``clock``: its tokens are dated, and their age
    checked, by the service's clock, so tests move time instead of sleeping."""

    class ClockSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock.now().timestamp())

    return ClockSigner
