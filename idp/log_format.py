"""Structured logs as an option (issue 11, operability): ``[logging] format = "json"``
writes one JSON object per line on stderr, for a log collector.

Only the shape changes: the messages are the ones the text format writes, which never
hold a password, code, token or secret (S28; parameters stay out of SQL errors, idp.db).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

MARK = "_clef_json"


class JsonFormatter(logging.Formatter):
    """time (UTC, ISO 8601), level, logger, message and, when there is one, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(log_format: str) -> None:
    """With "json", send every log record of the process (Clef's, gunicorn's error log
    excepted, which has its own handlers) as JSON lines to stderr; once per process."""
    if log_format != "json":
        return
    root = logging.getLogger()
    if any(getattr(handler, MARK, False) for handler in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    setattr(handler, MARK, True)
    root.addHandler(handler)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
