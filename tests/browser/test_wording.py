"""The browser tests' French is the catalogue's (J5): every French text of
``wording.py`` is found in the French translation of a message whose English holds the
English text, so a test cannot pass on a French that no page shows. Needs no browser."""

from __future__ import annotations

import gettext
from collections.abc import Iterator
from dataclasses import fields
from io import BytesIO

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from tests.browser.wording import WORDING
from tests.helpers import PO_FILE

# The language toggle names each language in that language; no message holds it.
NOT_FROM_THE_CATALOGUE = {"language_name"}


def _english_and_french() -> Iterator[tuple[str, str]]:
    """Each message in English and in French as pages show them; plural messages once
    with 1 and once with 2."""
    with PO_FILE.open("rb") as handle:
        catalog = read_po(handle, locale="fr")
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    french = gettext.GNUTranslations(compiled)
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, str):
            yield message.id, french.gettext(message.id)
            continue
        singular, plural = message.id[0], message.id[1]
        for n in (1, 2):
            english = singular if n == 1 else plural
            yield (english.replace("%(num)d", str(n)),
                   french.ngettext(singular, plural, n).replace("%(num)d", str(n)))


def test_french_wording_comes_from_the_catalogue_J5() -> None:
    messages = list(_english_and_french())
    wrong = []
    for name in (f.name for f in fields(WORDING["en"])):
        if name in NOT_FROM_THE_CATALOGUE:
            continue
        english, french = getattr(WORDING["en"], name), getattr(WORDING["fr"], name)
        found = [fr for en, fr in messages if english in en]
        if not any(french in fr for fr in found):
            wrong.append(f"{name}: {french!r} is in no translation of a message holding "
                         f"{english!r} ({len(found)} such message(s))")
    assert wrong == [], "\n".join(wrong)
