"""S6, D11: the question and hints shown for a username without security questions are
not recognisable as decoys: stable per username, keyed by the service secret, drawn from
a large pool in both languages (one per username, whatever the page's language), with
no phrase common enough to learn."""

from __future__ import annotations

import re
from collections import Counter

from idp.keys import KeyRing
from idp.usernames import username_key
from recovery.decoy_pool import POOL
from recovery.decoys import decoy_hints
from tests.conftest import TEST_SECRET
from tests.helpers import create_account
from tests.recovery.flows import set_questions, start, text

KEYS = KeyRing(TEST_SECRET)
NAMES = [username_key(f"someone-{n}") for n in range(4000)]


def _language_of(hints) -> str | None:
    """The one language all three hints come from, or None when they are mixed."""
    for language, pool in POOL.items():
        question = hints.question.rstrip("? ")
        if (any(q.rstrip("?").lower() == question.lower() for q in pool["question"])
                and hints.person_hint in pool["person"] and hints.date_hint in pool["date"]):
            return language
    return None


def test_s6_decoy_hints_are_stable_per_username_and_keyed_by_the_secret():
    assert [decoy_hints(KEYS, n) for n in NAMES[:50]] == [decoy_hints(KEYS, n) for n in NAMES[:50]]
    other = KeyRing("another-secret-" + "y" * 40)
    differing = sum(decoy_hints(KEYS, n) != decoy_hints(other, n) for n in NAMES[:200])
    assert differing >= 190  # without the secret, nobody can say which decoy a name gets


def test_s6_decoy_hints_come_from_a_large_pool_in_both_languages():
    hints = [decoy_hints(KEYS, n) for n in NAMES]
    languages = Counter(_language_of(h) for h in hints)
    assert None not in languages  # one language per username, as a person writes
    assert 0.4 < languages["fr"] / len(hints) < 0.6
    for field, at_least in (("question", 600), ("person_hint", 2000), ("date_hint", 1800)):
        counts = Counter(getattr(h, field) for h in hints)
        assert len(counts) >= at_least, field  # the old lists had 6 of each per language
        assert counts.most_common(1)[0][1] <= 25, field  # nothing common enough to learn


def test_s6_decoys_do_not_follow_the_page_language(app):
    pages = []
    for language in ("en", "fr"):
        client = app.test_client()
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
        start(client, "nobody-here")
        page = text(client.get("/forgot-password/questions"))
        assert f'lang="{language}"' in page
        pages.append(re.findall(r'<p class="hint"[^>]*>([^<]*)</p>', page))
    assert len(pages[0]) == 3 and pages[0] == pages[1]
    expected = decoy_hints(KEYS, username_key("nobody-here"))
    assert pages[0] == [expected.question, expected.person_hint, expected.date_hint]


def test_s6_questions_page_is_the_same_for_every_username_but_its_hints(app):
    """Byte for byte, once the hints themselves (the person's own, or decoys) are set
    aside: an account with questions, one without, a name nobody registered."""
    alice = create_account(app, "alice", email_address="a@example.org", confirmed=True)
    set_questions(app, alice.id)
    create_account(app, "bertrand")  # never set questions
    pages = {}
    for name in ("alice", "bertrand", "nobody-here"):
        client = app.test_client()
        start(client, name)
        body = client.get("/forgot-password/questions").get_data(as_text=True)
        body = re.sub(r'(<p class="hint"[^>]*>)[^<]*', r"\1HINT", body)
        body = re.sub(r'(name="csrf_token" type="hidden" value=")[^"]+', r"\1TOKEN", body)
        pages[name] = body.replace(name, "USERNAME")
    assert pages["alice"] == pages["bertrand"] == pages["nobody-here"]
