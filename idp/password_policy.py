"""What makes a password acceptable (S1, S2; ASVS 6.2.x; NIST §3.1.1.2).

Length only, no composition rules, no truncation or case folding of the password itself.
Refused: too short or too long, one of the most common passwords, one that contains the
username or the service's name, one found in a breach corpus. Each refusal has a reason
the page can show; the caller translates it.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from zxcvbn.frequency_lists import FREQUENCY_LISTS

from idp.breach import BreachedPasswordSource


class PasswordProblem(enum.Enum):
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    COMMON = "common"
    CONTAINS_USERNAME = "contains_username"
    CONTAINS_SERVICE_NAME = "contains_service_name"
    BREACHED = "breached"
    MISMATCH = "mismatch"


@lru_cache(maxsize=4)
def common_passwords(size: int) -> frozenset[str]:
    """The ``size`` most frequent passwords of zxcvbn's list (30,000 entries, lower case)."""
    return frozenset(FREQUENCY_LISTS["passwords"][:size])


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int
    max_length: int
    common_list_size: int
    service_name: str
    breached: BreachedPasswordSource | None = None

    def problems(self, password: str, context_words: Iterable[str] = ()) -> list[PasswordProblem]:
        """Every reason ``password`` is refused, empty when it is acceptable.

        Length counts Unicode code points after NFKC (NIST §3.1.1.2). ``context_words``
        are words specific to this person (the username); the service's name is always
        one. Words shorter than 3 characters are not looked for.
        """
        length = len(unicodedata.normalize("NFKC", password))
        if length < self.min_length:
            return [PasswordProblem.TOO_SHORT]
        if length > self.max_length:
            return [PasswordProblem.TOO_LONG]
        found: list[PasswordProblem] = []
        folded = _fold(password)
        if folded in common_passwords(self.common_list_size):
            found.append(PasswordProblem.COMMON)
        for word in context_words:
            if len(word) >= 3 and _fold(word) in folded:
                found.append(PasswordProblem.CONTAINS_USERNAME)
                break
        if len(self.service_name) >= 3 and _fold(self.service_name) in folded:
            found.append(PasswordProblem.CONTAINS_SERVICE_NAME)
        if not found and self.breached is not None and self.breached.is_breached(password):
            found.append(PasswordProblem.BREACHED)
        return found
