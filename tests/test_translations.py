"""The French catalogue is complete and current (J5: every screen comes in English and
French, with a toggle on each page).

These checks read the files only; they need no app, database or network:

- every message of ``translations/fr/LC_MESSAGES/messages.po`` is translated and none is
  left fuzzy (a fuzzy entry is not compiled, so its English would leak onto a French page);
- every translation keeps exactly the ``%(name)s`` placeholders of its English, and still
  formats (Jinja's ``_()`` always applies ``%``, so a stray ``%`` would break the page);
- the catalogue is not stale: extracting the messages from the sources again, with the
  method map of ``babel.cfg`` and the keywords of the documented command, finds no message
  that ``messages.pot`` or the French ``.po`` lacks.

When the last check fails, refresh the catalogue and translate what is new::

    pybabel extract -F babel.cfg -k _l -o translations/messages.pot .
    pybabel update -i translations/messages.pot -d translations -l fr
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
BABEL_CFG = ROOT / "babel.cfg"
POT = ROOT / "translations" / "messages.pot"
FRENCH_PO = ROOT / "translations" / "fr" / "LC_MESSAGES" / "messages.po"
# The keywords of the documented extraction command (``-k _l`` on top of Babel's own).
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None}

# A named printf-style placeholder: %(name)s, %(minutes)d, %(ratio).1f ...
PLACEHOLDER = re.compile(r"%\((\w+)\)[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")

FIX = (
    "refresh the catalogue: pybabel extract -F babel.cfg -k _l -o translations/messages.pot . "
    "&& pybabel update -i translations/messages.pot -d translations -l fr, then translate"
)


def _read(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle)


def _texts(value: str | tuple[str, ...] | list[str] | None) -> list[str]:
    """A message's id or string as a list (plural messages have several; none is [""])."""
    if value is None:
        return [""]
    return [value] if isinstance(value, str) else list(value)


def _key(message: Message) -> tuple[str | None, str]:
    """Context and singular id: what identifies a message in a catalogue."""
    return message.context, _texts(message.id)[0]


def _messages(catalog: Catalog) -> Iterator[Message]:
    """The live messages, without the header entry (obsolete ones are not iterated)."""
    return (message for message in catalog if message.id)


def _placeholders(text: str) -> set[str]:
    return {match.group(0) for match in PLACEHOLDER.finditer(text)}


def _sample_values(text: str) -> dict[str, object]:
    """A value for every placeholder, of the type its conversion expects."""
    values: dict[str, object] = {}
    for match in PLACEHOLDER.finditer(text):
        values[match.group(1)] = 1 if match.group(0)[-1] in "diouxXeEfFgGc" else "x"
    return values


@pytest.fixture(scope="module")
def french() -> Catalog:
    return _read(FRENCH_PO)


@pytest.fixture(scope="module")
def extracted() -> dict[tuple[str | None, str], str]:
    """Every message the sources hold now, mapped to where it was found."""
    with BABEL_CFG.open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle, str(BABEL_CFG))  # type: ignore[no-untyped-call]
    found: dict[tuple[str | None, str], str] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        found.setdefault((context, _texts(message)[0]), f"{filename}:{lineno}")
    return found


def test_french_catalogue_has_messages_J5(french: Catalog) -> None:
    """J5: guard the guards below: an empty or unreadable catalogue must not pass them."""
    assert str(french.locale) == "fr"
    assert len(list(_messages(french))) > 0


def test_every_french_message_is_translated_and_not_fuzzy_J5(french: Catalog) -> None:
    """J5: a French page shows no English left behind by a missing or fuzzy entry."""
    untranslated = [
        _texts(message.id)[0]
        for message in _messages(french)
        if not all(text.strip() for text in _texts(message.string))
    ]
    fuzzy = [_texts(message.id)[0] for message in _messages(french) if message.fuzzy]
    assert untranslated == [], f"untranslated in {FRENCH_PO.name}: {untranslated}"
    assert fuzzy == [], f"fuzzy (check, then remove the flag): {fuzzy}"


def test_french_translations_keep_the_placeholders_J5(french: Catalog) -> None:
    """J5: each msgstr has the same set of %(name)s placeholders as its msgid."""
    wrong = []
    for message in _messages(french):
        expected = set().union(*(_placeholders(text) for text in _texts(message.id)))
        for text in _texts(message.string):
            if text and _placeholders(text) != expected:
                wrong.append((_texts(message.id)[0], sorted(expected), sorted(_placeholders(text))))
    assert wrong == [], "placeholders differ (msgid, expected, found): " + repr(wrong)


def test_french_translations_format_like_the_english_J5(french: Catalog) -> None:
    """J5: a translation formats wherever its English does (no stray %, no bad conversion)."""
    broken = []
    for message in _messages(french):
        english = _texts(message.id)[0]
        values = _sample_values(english)
        try:
            english % values
        except (TypeError, ValueError, KeyError):
            continue  # the English is not a format string; nothing to compare
        for text in _texts(message.string):
            try:
                text % values
            except (TypeError, ValueError, KeyError) as error:
                broken.append((english, text, str(error)))
    assert broken == [], "translations that do not format: " + repr(broken)


@pytest.mark.parametrize("catalogue", [POT, FRENCH_PO], ids=["messages.pot", "fr/messages.po"])
def test_catalogue_holds_every_message_of_the_sources_J5(
    catalogue: Path, extracted: dict[tuple[str | None, str], str]
) -> None:
    """J5: re-extracting from the sources finds no message id missing from the catalogue
    (the .pot is stale, or the French .po was not updated from it)."""
    assert extracted, "extraction found no message at all: check babel.cfg"
    known = {_key(message) for message in _messages(_read(catalogue))}
    missing = sorted(
        f"{where}: {msgid!r}" for (context, msgid), where in extracted.items()
        if (context, msgid) not in known
    )
    assert missing == [], f"{len(missing)} message(s) missing from {catalogue.name}; {FIX}:\n" + (
        "\n".join(missing)
    )
