"""Reading the mail an app wrote to its outbox: messages, bodies, codes, headers."""

from __future__ import annotations

import email
import re
from email.message import Message
from pathlib import Path

from flask import Flask


def outbox(app: Flask) -> list[Message]:
    folder = Path(app.extensions["clef"].settings.instance_path) / "outbox"
    if not folder.is_dir():
        return []
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]


def body_of(message: Message) -> str:
    part = message.get_payload(0) if message.is_multipart() else message
    assert isinstance(part, Message)
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(part.get_content_charset() or "utf-8")


CODE_RE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


def emailed_code(message: Message) -> str:
    """The one six-digit code in a mail's body."""
    found = CODE_RE.findall(body_of(message))
    assert len(found) == 1, f"expected one code in the mail, found {found}"
    return str(found[0])


def decoded_header(message: Message, name: str) -> str:
    """A header as the person reads it (RFC 2047 encoded words decoded, folding undone)."""
    from email.header import decode_header, make_header

    return str(make_header(decode_header(str(message[name]))))
