"""The French catalogue, read as the translation tests and wording checks need it."""

from __future__ import annotations

from pathlib import Path

PO_FILE = (Path(__file__).resolve().parents[2]
           / "translations" / "fr" / "LC_MESSAGES" / "messages.po")


def french(msgid: str) -> str | None:
    """The French catalogue's translation of ``msgid``, or None while it has none (the
    catalogue is written alongside the screens)."""
    from babel.messages.pofile import read_po

    with PO_FILE.open("rb") as handle:
        catalog = read_po(handle, locale="fr")
    message = catalog.get(msgid)
    if message is None or message.fuzzy or not message.string:
        return None
    text = message.string
    return text if isinstance(text, str) else text[0]
