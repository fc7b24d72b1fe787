"""A person at the browser: a tab on the live server, in one language, that checks
every page it loads with axe-core (WCAG 2.1 A and AA).

Plain classes the fixtures of ``conftest.py`` build and the tests drive."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from idp.clock import FrozenClock
from tests.browser.wording import WORDING, Wording

# WCAG 2.1 levels A and AA: what every page must pass.
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"


# The page's markup with the per-request CSRF tokens blanked: two loads that give the
# same snapshot are the same page to axe (the CSS is the same file all run long).
SNAPSHOT_JS = """() => {
  const copy = document.documentElement.cloneNode(true);
  copy.querySelectorAll('input[name="csrf_token"]').forEach(i => i.setAttribute("value", ""));
  return copy.outerHTML;
}"""


class AxeChecker:
    """axe-core (bundled with axe-playwright-python, no download) with a memory of the
    page states already found clean, so a journey that shows the same page twenty
    times (J3) pays for one run. Every page is still snapshotted and compared."""

    def __init__(self) -> None:
        from axe_playwright_python.sync_playwright import Axe

        self._axe = Axe()
        self._clean: set[str] = set()

    def check(self, page: Any) -> None:
        snapshot = page.evaluate(SNAPSHOT_JS)
        digest = hashlib.sha256(snapshot.encode("utf-8")).hexdigest()
        if digest in self._clean:
            return
        results = self._axe.run(page, options=AXE_OPTIONS)
        violations = results.response["violations"]
        if violations:
            print(results.generate_report())
        assert violations == [], (
            f"axe found {len(violations)} WCAG 2.1 A/AA violation(s) on {page.url}:\n"
            + results.generate_report()
        )
        self._clean.add(digest)


@dataclass
class LiveServer:
    app: Flask
    url: str
    clock: FrozenClock


@dataclass
class Visitor:
    """One person's browser tab on the live server, in one language.

    Every document the tab loads must be checked with axe before the test ends
    (:meth:`check_page`); the fixture fails the test if one was not."""

    page: Any
    context: Any
    server: LiveServer
    axe: AxeChecker
    locale: str
    loaded: list[str] = field(default_factory=list)
    checked: set[int] = field(default_factory=set)

    @property
    def words(self) -> Wording:
        return WORDING[self.locale]

    def url(self, path: str) -> str:
        return self.server.url + path

    def path_re(self, path: str) -> re.Pattern[str]:
        """A pattern for the page URL: this path, with any query string."""
        return re.compile(re.escape(self.url(path)) + r"(\?.*)?$")

    def query(self, name: str) -> str | None:
        """The value of the current URL's query parameter ``name``, or None."""
        values = parse_qs(urlsplit(self.page.url).query).get(name)
        return values[0] if values else None

    def goto(self, path: str) -> None:
        self.page.goto(self.url(path))
        self.check_page()

    def check_page(self) -> None:
        """axe-core, WCAG 2.1 A and AA, on the page as it is now: no violations."""
        from playwright.sync_api import expect

        expect(self.page.locator("html")).to_have_attribute("lang", self.locale)
        self.axe.check(self.page)
        if self.loaded:
            self.checked.add(len(self.loaded) - 1)

    def unchecked(self) -> list[str]:
        return [url for i, url in enumerate(self.loaded) if i not in self.checked]

    def choose_language(self, locale: str) -> None:
        """The toggle on every page (J5): the link named in that language reloads this
        page in it."""
        self.locale = locale
        self.follow(WORDING[locale].language_name)

    def field(self, label: str) -> Any:
        """The form field whose visible label is exactly ``label``."""
        return self.page.get_by_label(label, exact=True)

    def submit(self, button: str) -> None:
        """Press the button named ``button``; the page that answers is checked."""
        with self.page.expect_navigation():
            self.page.get_by_role("button", name=button, exact=True).click()
        self.check_page()

    def follow(self, link: str) -> None:
        """Follow the link named ``link``; the page it leads to is checked."""
        with self.page.expect_navigation():
            self.page.get_by_role("link", name=link, exact=True).click()
        self.check_page()

    def reload(self) -> None:
        self.page.reload()
        self.check_page()

    def sign_in(self, username: str, password: str) -> None:
        """Fill the sign-in form by its labels and press Continue."""
        self.field(self.words.username).fill(username)
        self.field(self.words.password).fill(password)
        self.submit(self.words.continue_)

    def session_cookie(self) -> dict[str, Any] | None:
        for cookie in self.context.cookies(self.server.url):
            if cookie["name"] in ("clef_session", "__Host-clef_session"):
                return dict(cookie)
        return None


def keep_screenshot(visitor: Visitor, node: pytest.Item, number: int) -> None:
    """A failed test leaves what its tab showed in test-artifacts/browser/ (ignored by git)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", node.name)
    target = ARTIFACTS / f"{name}-{number}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        visitor.page.screenshot(path=str(target), full_page=True)
    except Exception as problem:  # a screenshot must not hide the failure
        print(f"no screenshot of {visitor.page.url}: {problem}")
    else:
        print(f"screenshot of {visitor.page.url}: {target}")
