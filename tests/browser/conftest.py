"""Browser set-up: one Chromium per run, a live Clef per test, a fresh browser context
per test, and axe-core on every page a test visits.

Chromium is Debian's (``/usr/bin/chromium``), never a Playwright download. When it is
missing, only these tests are skipped, and the run says so loudly at its start and end.
The live app shares the test's :class:`FrozenClock`, so tests move time instead of
sleeping; the browser's own clock is moved with Playwright's ``page.clock`` when a
page's script must see the time pass (the idle warning, J4).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from idp.clock import FrozenClock
from tests.browser.journey import AxeChecker, LiveServer, Visitor, keep_screenshot

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MISSING = (
    f"{CHROMIUM} is missing: the BROWSER TESTS ARE SKIPPED "
    "(install Debian's chromium: apt-get install chromium, or `make browser`)"
)
BROWSER_LOCALE = {"en": "en-CA", "fr": "fr-CA"}


def _chromium_missing() -> bool:
    return not CHROMIUM.is_file()


def pytest_report_header() -> list[str]:
    # Shown when pytest is started on this folder; the terminal summary below covers a
    # whole-suite run, where this conftest is not loaded early enough for the header.
    return [f"!!! {MISSING} !!!"] if _chromium_missing() else [f"browser tests: {CHROMIUM}"]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _chromium_missing():
        terminalreporter.write_sep("!", MISSING, red=True, bold=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so teardown knows whether the test passed."""
    report = yield
    setattr(item, f"browser_report_{report.when}", report)
    return report


# --- the browser -------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the whole run (a new context per test)."""
    if _chromium_missing():
        pytest.skip(MISSING)
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture(scope="session")
def axe() -> AxeChecker:
    return AxeChecker()


# --- the live app ------------------------------------------------------------------


@pytest.fixture
def backend() -> str:
    """Browser journeys run on SQLite only; the storage backends are covered below the UI."""
    return "sqlite"


@pytest.fixture
def live_server(make_app: Callable[..., Flask], clock: FrozenClock) -> Iterator[LiveServer]:
    """Clef served over real HTTP on 127.0.0.1 (a free port) in a background thread.

    The socket is bound first (port 0), so the app can be built with its own address
    as ``base_url`` (S17: links in mail are built from it)."""
    holder: dict[str, Flask] = {}

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        return holder["app"](environ, start_response)

    server: BaseWSGIServer = make_server("127.0.0.1", 0, wsgi, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    holder["app"] = make_app(service={"base_url": url})
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.02},  # shutdown() waits up to one poll
        name="clef-live-server",
        daemon=True,
    )
    thread.start()
    yield LiveServer(holder["app"], url, clock)
    server.shutdown()  # serve_forever closes the socket as it returns
    thread.join(timeout=10)


# --- a person at the browser ---------------------------------------------------------


@pytest.fixture(params=["en", "fr"])
def locale(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_browser(
    chromium: Any, axe: AxeChecker, live_server: LiveServer, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Visitor]]:
    """``open_browser(locale, path, via="toggle" | "accept-language", server=None)``: a
    new context (no cookies) with one tab on ``path``, checked with axe, in ``locale``.

    French is chosen with the page's language toggle (the link "Français", J5), or by
    the browser's Accept-Language (``fr-CA``) before the first page. ``server`` is the
    site the tab starts on and its paths are relative to (a portal, say); by default
    Clef itself."""
    opened: list[Visitor] = []

    def start(locale: str, path: str, via: str = "toggle",
              server: LiveServer | None = None) -> Visitor:
        assert via in ("toggle", "accept-language")
        first = locale if via == "accept-language" else "en"
        context = chromium.new_context(locale=BROWSER_LOCALE[first])
        context.set_default_timeout(5_000)
        page = context.new_page()
        visitor = Visitor(page, context, server or live_server, axe, locale=first)

        def on_navigated(frame: Any) -> None:
            if frame == page.main_frame:
                visitor.loaded.append(frame.url)

        page.on("framenavigated", on_navigated)
        opened.append(visitor)
        visitor.goto(path)
        if locale != visitor.locale:
            visitor.choose_language(locale)
        return visitor

    yield start
    report = getattr(request.node, "browser_report_call", None)
    for number, visitor in enumerate(opened):
        if report is not None and report.failed:
            keep_screenshot(visitor, request.node, number)
        visitor.context.close()
    if report is not None and report.passed:
        for visitor in opened:
            assert visitor.unchecked() == [], (
                f"pages loaded but never checked with axe: {visitor.unchecked()}"
            )
