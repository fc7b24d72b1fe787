"""The base layout's parts rendered once per language (``templates/_layout_parts.html``,
``idp.template_context.layout_parts``, issue 11): every page the very HTML the whole
layout in Jinja made (``base_reference.html``, base.html before the parts), in English
and French, anonymous, half and fully signed in; and nothing of one request or person
in what is kept: each page its own CSRF token, deadline and toggle link, escaped."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

from flask import Flask
from flask.testing import FlaskClient
from jinja2 import ChoiceLoader, DictLoader

from tests.helpers import create_account
from tests.oidc.rp import Request
from tests.oidc.test_sign_in_handoff import untrusted
from tests.support.accounts import GOOD_PASSWORD, fresh_totp
from tests.support.screens import csrf_from

REFERENCE = (Path(__file__).parent / "base_reference.html").read_text()
ANONYMOUS = ["/", "/signin", "/signin?next=/authorize%3Fa%3D%22%3E%3Cb%3E%26x%3D%27",
             "/register", "/forgot-username", "/forgot-password", "/no-such-page",
             "/signed-out", "/session-expired?next=/x%3F%3Cscript%3E", "/register?x=%E2%82%AC"]
HALF = ["/2fa/challenge", "/2fa/lost", "/no-such-page?x=%3Ci%3E%22"]
FULL = ["/account", "/2fa/manage", "/account/recovery", "/", "/no-such-page"]


def _signed_in(app: Flask, browser: FlaskClient, name: str, pages: dict[str, list[str]]) -> None:
    """Walks ``browser`` through a portal's sign-in as ``name``; the pages at each step."""
    jobs = untrusted(app)
    signin = browser.get(jobs.authorize_url(Request())).headers["Location"]
    page = browser.get(signin)
    pages["anonymous"].append(signin)
    browser.post("/signin", data={"csrf_token": csrf_from(page), "username": name,
                                  "password": GOOD_PASSWORD})
    challenge = browser.get("/2fa/challenge")
    pages["half"].append("/2fa/challenge")
    back = browser.post("/2fa/challenge", data={"code": fresh_totp(app, name),
                                                "csrf_token": csrf_from(challenge)})
    pages["full"].append(back.headers["Location"])  # the consent page


def _page(app: Flask, browser: FlaskClient, path: str) -> tuple[str, str]:
    """(path, HTML) of one page, once as the app renders it, once more (the same
    browser, at once) through base.html as it was, whole in Jinja; the two the same."""
    html = browser.get(path).get_data(as_text=True)
    loader = app.jinja_env.loader
    app.jinja_env.loader = ChoiceLoader([DictLoader({"base.html": REFERENCE}), loader])  # type: ignore[list-item]
    app.jinja_env.cache.clear()  # type: ignore[union-attr]
    try:
        reference = browser.get(path).get_data(as_text=True)
    finally:
        app.jinja_env.loader = loader
        app.jinja_env.cache.clear()  # type: ignore[union-attr]
    # A form signing its token afresh (a time limit) signs it at this second: not ours.
    assert _unsigned(html) == _unsigned(reference), path
    return path, html


def _unsigned(html: str) -> str:
    return re.sub(r'(name="csrf_token" type="hidden" value=")[^"]*', r"\1", html)


def _pages(app: Flask, language: str) -> list[tuple[str, str]]:
    """(path, HTML) of every page of one browser at each step of the flow."""
    browser = app.test_client()
    browser.set_cookie("clef_lang", language)
    seen = [_page(app, browser, path) for path in ANONYMOUS]
    jobs = untrusted(app)
    signin = browser.get(jobs.authorize_url(Request())).headers["Location"]
    seen.append(_page(app, browser, signin))
    browser.post("/signin", data={"csrf_token": csrf_from(browser.get(signin)), "username": "alice",
                                  "password": GOOD_PASSWORD})
    seen += [_page(app, browser, path) for path in HALF]
    challenge = browser.get("/2fa/challenge")
    back = browser.post("/2fa/challenge", data={"code": fresh_totp(app, "alice"),
                                                "csrf_token": csrf_from(challenge)})
    seen += [_page(app, browser, path) for path in [back.headers["Location"], *FULL]]
    return seen


def test_every_page_is_the_html_of_the_whole_layout_in_both_languages(app: Flask) -> None:
    create_account(app, "alice")
    english = _pages(app, "en")
    french = _pages(app, "fr")  # after English in the same process
    again = _pages(app, "en")   # and English again after French
    assert len(english) == len(french) == len(again) >= 20
    english, french, again = (
        [(path, html) for path, html in pages
         if html.startswith('<!doctype html>\n<html lang="')]
        for pages in (english, french, again))
    assert len(english) == len(french) >= 16  # the others are redirects
    for _, html in english + again:
        assert 'lang="en"' in html and "Skip to main content" in html
        assert "Aller au contenu" not in html
    for _, html in french:
        assert '<html lang="fr">' in html and "Skip to main content" not in html
    signed = [html for _, html in english if 'class="signout"' in html]
    assert len(signed) >= len(FULL) and all("idle-warning" in html for html in signed)


def test_the_toggle_link_carries_the_pages_own_query_escaped(client: FlaskClient) -> None:
    for path in ('/signin?next=/x%3F%3Cscript%3Ealert(1)%3C/script%3E%22',
                 '/no-such-page?q=%22%3E%3Cscript%3E', '/signin?next=/a%26b'):
        html = client.get(path).get_data(as_text=True)
        toggle = re.search(r'<a href="(/language/fr\?next=[^"]*)" lang="fr"', html)
        assert toggle is not None, path
        assert "<" not in toggle.group(1) and '"' not in toggle.group(1)
        assert "<script>" not in html
    first = client.get("/signin?next=/one").get_data(as_text=True)
    second = client.get("/signin?next=/two").get_data(as_text=True)
    assert "next=/signin?next%3D/one" in first and "/two" not in first
    assert "next=/signin?next%3D/two" in second and "/one" not in second


def _token_and_deadline(html: str) -> tuple[str, str]:
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    deadline = re.search(r'data-deadline="([^"]+)"', html)
    assert token is not None and deadline is not None
    return token.group(1), deadline.group(1)


def test_one_persons_token_and_deadline_never_reach_anothers_page(app: Flask) -> None:
    create_account(app, "alice")
    create_account(app, "bob")
    pages: dict[str, list[str]] = {"anonymous": [], "half": [], "full": []}
    alice, bob = app.test_client(), app.test_client()
    _signed_in(app, alice, "alice", pages)
    _signed_in(app, bob, "bob", pages)
    alices = alice.get("/account").get_data(as_text=True)
    bobs = bob.get("/account").get_data(as_text=True)
    alice_token, alice_deadline = _token_and_deadline(alices)
    bob_token, bob_deadline = _token_and_deadline(bobs)
    assert alice_token != bob_token
    assert alice_token not in bobs and bob_token not in alices
    assert alices.count(alice_token) == 2 and bobs.count(bob_token) == 2  # sign-out, dialog
    assert alice_deadline.isdigit() and bob_deadline.isdigit()
    assert "alice" not in bobs and "bob" not in alices
    # What is kept for the layout holds neither token nor deadline nor any name.
    parts = _kept_parts(app)
    assert any("Skip to main content" in part for part in parts)
    assert not any(value in part for part in parts
                             for value in (alice_token, bob_token, "alice", "bob",
                                           "/account", 'data-deadline="1', "next="))


def _texts(value: object) -> list[str]:
    """Every text inside what a layout keeps (parts, pairs, lists, facts)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _texts(item)]
    if isinstance(value, (list, tuple)):
        return [text for item in value for text in _texts(item)]
    if isinstance(value, SimpleNamespace):
        return _texts(vars(value))
    return []


def _kept_parts(app: Flask) -> list[str]:
    """Every text of every language's facts and layout this app keeps (in its context
    processor's closure)."""
    from idp.template_context import register_template_context

    found: list[str] = []
    for processor in app.template_context_processors[None]:
        if processor.__module__ != register_template_context.__module__:
            continue
        for cell in processor.__closure__ or ():
            kept = cell.cell_contents
            if isinstance(kept, dict) and any(isinstance(v, dict) for v in kept.values()):
                found += _texts(kept)
    return found
