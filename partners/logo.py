"""A partner's logo text: the short mark (a brand, like "BNQ") shown beside its name on
the partner list. It is the partner's own mark, so it is not translated; it is plain
text, rendered by Jinja's autoescape and never as HTML. Checked here, once, for every
caller (the CLI and the registry), so nothing longer or stranger reaches the page."""

from __future__ import annotations

import unicodedata

MAX_LENGTH = 40  # characters; the partners table's logo_text column holds as many

# Unicode categories refused anywhere in the text: control characters (Cc), format
# characters such as bidirectional overrides and zero-width marks (Cf, which could make
# the mark read differently from what it holds), unassigned, private-use and surrogate
# code points, and line or paragraph separators (the mark is one line).
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cn", "Co", "Cs", "Zl", "Zp"})


class LogoTextRefused(ValueError):
    """The logo text is empty, too long or holds a character it may not; the message
    says which, for the administrator."""


def checked_logo_text(text: str) -> str:
    """The logo text to store: NFC-normalised (so the length counts what is seen, not
    how it was typed), without surrounding spaces. Raises LogoTextRefused."""
    value = unicodedata.normalize("NFC", text).strip()
    if not value:
        raise LogoTextRefused("the logo text is empty")
    if any(unicodedata.category(char) in REFUSED_CATEGORIES for char in value):
        raise LogoTextRefused("the logo text may not hold control or invisible formatting "
                              "characters")
    if len(value) > MAX_LENGTH:
        raise LogoTextRefused(f"the logo text takes at most {MAX_LENGTH} characters")
    return value
