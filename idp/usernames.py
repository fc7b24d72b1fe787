"""Usernames: what is allowed, how they are normalised and compared.

A username is NFKC-normalised and trimmed for display, and case-folded for comparison,
so "Émile", "ÉMILE" and the decomposed "E\u0301mile" are one account. Allowed: letters and
digits of any script, and ``.``, ``_``, ``-`` inside; 3 to 64 characters by default.
"""

from __future__ import annotations

import enum
import re
import unicodedata

# A letter or digit first and last; . _ - allowed between. \w minus the underscore is
# "letter or digit" in any script.
USERNAME_PATTERN = re.compile(r"^[^\W_](?:[\w.\-]*[^\W_])?$")
# The width of the stored columns (idp.models.Account). Case folding can lengthen a
# name ("ß" folds to "ss"), so the comparison key is checked against it too: a name
# that fits on screen but not in the column is refused by rule, never by the database.
COLUMN_LENGTH = 64


class UsernameProblem(enum.Enum):
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    TOO_LONG_FOLDED = "too_long_folded"
    CHARACTERS = "characters"


def normalise_username(raw: str) -> str:
    """The display form: NFKC, surrounding white space removed."""
    return unicodedata.normalize("NFKC", raw).strip()


def username_key(raw: str) -> str:
    """The comparison key: the display form, case-folded and normalised again (casefold
    can produce sequences NFKC would compose)."""
    return unicodedata.normalize("NFKC", normalise_username(raw).casefold())


def username_problem(username: str, min_length: int, max_length: int) -> UsernameProblem | None:
    """Why a (normalised) username cannot be registered, or None when it can."""
    if len(username) < min_length:
        return UsernameProblem.TOO_SHORT
    if len(username) > max_length:
        return UsernameProblem.TOO_LONG
    if len(username_key(username)) > COLUMN_LENGTH:
        return UsernameProblem.TOO_LONG_FOLDED
    if not USERNAME_PATTERN.match(username):
        return UsernameProblem.CHARACTERS
    return None
