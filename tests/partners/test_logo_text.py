"""Issue 13: "Choosing a partner shows the configured partners (name and logo text)".
The logo text is the partner's mark, set by an administrator (``clef partners add
--logo-text``, ``set-logo-text``), short, one line of visible characters, and shown on
the partner list as plain text beside the name, in both languages, never as HTML."""

from __future__ import annotations

import html
import re

import pytest
from flask import Flask

from tests.support.app import run_cli
from tests.support.records import audit_events

BANK = ["--name", "Banque Exemple", "--issuer", "https://bank.example", "--client-id", "c"]


def add(app: Flask, *extra: str):  # type: ignore[no-untyped-def]
    return app.test_cli_runner().invoke(args=["partners", "add", *BANK, *extra],
                                        input="secret\n")


def listed(app: Flask) -> list[str]:
    return run_cli(app, "partners", "list").output.splitlines()


def mark_of(page: str) -> list[str]:
    """The marks on the partner list, as the browser would show them."""
    return [html.unescape(found) for found in
            re.findall(r'<span class="partner-mark" aria-hidden="true">(.*?)</span>', page)]


def test_add_with_a_logo_text_stores_and_shows_it(app: Flask) -> None:
    result = add(app, "--logo-text", "  BNQ ")
    assert result.exit_code == 0, result.output
    assert "logo_text      BNQ\n" in result.output  # surrounding spaces dropped
    assert "logo_text      BNQ\n" in run_cli(app, "partners", "show", "1").output
    assert listed(app) == ["1\tBanque Exemple\thttps://bank.example\tenabled\tBNQ"]


def test_add_without_a_logo_text_shows_none(app: Flask) -> None:
    result = add(app)
    assert result.exit_code == 0, result.output
    assert "logo_text      -\n" in run_cli(app, "partners", "show", "1").output
    assert listed(app) == ["1\tBanque Exemple\thttps://bank.example\tenabled\t-"]


@pytest.mark.parametrize(("bad", "says"), [
    ("B" * 41, "at most 40 characters"),
    ("", "empty"),
    ("   ", "empty"),
    ("BNQ\nFAKE", "control"),           # a second line
    ("BNQ\x1b[31m", "control"),         # a terminal escape, for list/show
    ("BNQ\x00", "control"),
    ("\u202eQNB", "control"),           # a right-to-left override: reads as another mark
    ("B\u200bNQ", "control"),           # a zero-width space
    ("BNQ\u2028FAKE", "control"),       # a line separator
])
def test_add_refuses_a_bad_logo_text_and_registers_nothing(app: Flask, bad: str, says: str) -> None:
    result = add(app, "--logo-text", bad)
    assert result.exit_code != 0
    assert "--logo-text" in result.output and says in result.output
    assert listed(app) == []
    assert audit_events(app, "admin:partner:added") == []


def test_forty_characters_are_enough_and_an_accent_counts_once(app: Flask) -> None:
    """NFC: "é" typed as "e" + combining accent counts as the one character it shows."""
    decomposed = "Caisse populaire de l'Este\u0301 Québec 00ABCD"
    assert len(decomposed) == 41  # 40 once composed
    result = add(app, "--logo-text", decomposed)
    assert result.exit_code == 0, result.output
    assert "logo_text      Caisse populaire de l'Esté Québec 00ABCD\n" in result.output
    assert add(app, "--logo-text", "B" * 40).exit_code == 0


def test_set_logo_text_changes_and_clears_the_mark_and_is_audited(app: Flask) -> None:
    assert add(app).exit_code == 0
    changed = run_cli(app, "partners", "set-logo-text", "1", "BNQ")
    assert changed.exit_code == 0, changed.output
    assert "logo_text      BNQ\n" in run_cli(app, "partners", "show", "1").output
    [event] = audit_events(app, "admin:partner:logo_text_changed")
    assert event.details["partner"] == "Banque Exemple"
    cleared = run_cli(app, "partners", "set-logo-text", "1", "--clear")
    assert cleared.exit_code == 0, cleared.output
    assert "logo_text      -\n" in run_cli(app, "partners", "show", "1").output


@pytest.mark.parametrize("args", [
    ("1",),                         # neither text nor --clear
    ("1", "BNQ", "--clear"),        # both
    ("1", "B" * 41),
    ("1", "BNQ\x07"),
    ("2", "BNQ"),                   # no such partner
])
def test_set_logo_text_refuses_and_changes_nothing(app: Flask, args: tuple[str, ...]) -> None:
    assert add(app, "--logo-text", "OLD").exit_code == 0
    result = run_cli(app, "partners", "set-logo-text", *args)
    assert result.exit_code != 0 and "Error" in result.output
    assert "logo_text      OLD\n" in run_cli(app, "partners", "show", "1").output
    assert audit_events(app, "admin:partner:logo_text_changed") == []


@pytest.mark.parametrize(("language", "heading"), [("en", "Sign-in partner"),
                                                   ("fr", "Partenaire de connexion")])
def test_the_partner_list_shows_the_mark_beside_the_name(app: Flask, language: str,
                                                         heading: str) -> None:
    assert add(app, "--logo-text", "BNQ").exit_code == 0
    assert app.test_cli_runner().invoke(
        args=["partners", "add", "--name", "Caisse Exemple", "--issuer", "https://union.example",
              "--client-id", "c"], input="secret\n").exit_code == 0
    page = app.test_client().get("/partners/", headers={"Accept-Language": language})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and f"<h1>{heading}</h1>" in text
    assert mark_of(text) == ["BNQ"]  # the partner without one has no mark
    # The mark is decorative: the button's accessible name is the partner's name.
    assert re.search(r'aria-hidden="true">BNQ</span> <span class="partner-name">Banque Exemple'
                     r"</span></button>", text)
    assert '<span class="partner-name">Caisse Exemple</span></button>' in text


def test_the_mark_is_text_never_html(app: Flask) -> None:
    """An administrator's (or an attacker's) markup in the logo text is shown, escaped."""
    evil = "<script>alert(1)</script>"
    assert add(app, "--logo-text", evil).exit_code == 0
    text = app.test_client().get("/partners/").get_data(as_text=True)
    assert "<script>alert" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert mark_of(text) == [evil]


def test_a_disabled_partner_and_its_mark_are_not_listed(app: Flask) -> None:
    assert add(app, "--logo-text", "BNQ").exit_code == 0
    assert run_cli(app, "partners", "disable", "1").exit_code == 0
    assert mark_of(app.test_client().get("/partners/").get_data(as_text=True)) == []
