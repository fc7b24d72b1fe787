"""What every admin command shares (``clef users``, ``clef clients``, ...): who ran it,
for the audit log, and how an empty value is printed. Plain values, no app."""

from __future__ import annotations

import getpass


def admin_actor() -> str:
    """The audit log's actor for a command: the operating-system user who ran it."""
    try:
        return f"admin:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a bare container
        return "admin:unknown"


def shown(value: object) -> str:
    """A value as a command prints it: ``-`` for none."""
    return "-" if value is None else str(value)
