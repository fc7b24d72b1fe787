"""What the security-questions page shows for a username with no questions: an unknown
username, a revoked credential, or an account that never set them (S6, D11).

Showing "no questions" would tell anyone who types a username whether it exists. So the
page shows a question and two hints as a person would have written them, picked for
that username by keyed hashes (a key derived from the service secret): the same every
time for one username, different from one username to the next, unpredictable without
the secret, and answered by nothing (the check runs against the dummy hash).

They are drawn the way real ones are written: real people write their hints in English
or in French whatever language they read the page in, and word them their own way. So
each username gets one language for all three (a person writes in one), whatever the
page's language, and the pool (``recovery.decoy_pool``) is large and composed, with the
small differences of punctuation and capitals people make, rather than a short list an
observer could learn and spot. What remains is recorded as D11: a real hint that no
decoy could be still shows that the name is taken.
"""

from __future__ import annotations

from idp.keys import KeyRing
from recovery.answers import Hints
from recovery.decoy_pool import POOL

DECOY_PURPOSE = "recovery.decoy-hints"
LANGUAGES = ("en", "fr")


def _index(keys: KeyRing, username_key: str, what: str, size: int) -> int:
    """A stable, keyed choice among ``size`` for this username and ``what``."""
    return int(keys.keyed_hash(DECOY_PURPOSE, f"{what}:{username_key}"), 16) % size


def _styled(question: str, language: str, style: int) -> str:
    """The question as a person might type it: the question mark dropped now and then,
    spaced the French way, or the first letter left in lower case."""
    if style % 4 == 0:
        question = question.rstrip("?")
    elif style % 4 == 1 and language == "fr":
        question = question.rstrip("?") + " ?"
    if style // 4 % 5 == 0:
        question = question[0].lower() + question[1:]
    return question


def decoy_hints(keys: KeyRing, username_key: str) -> Hints:
    language = LANGUAGES[_index(keys, username_key, "language", len(LANGUAGES))]
    pool = POOL[language]
    question = pool["question"][_index(keys, username_key, "question", len(pool["question"]))]
    return Hints(
        question=_styled(question, language, _index(keys, username_key, "style", 20)),
        person_hint=pool["person"][_index(keys, username_key, "person", len(pool["person"]))],
        date_hint=pool["date"][_index(keys, username_key, "date", len(pool["date"]))],
    )
