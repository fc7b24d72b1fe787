"""ClefRequest reads a request's cookies from ``HTTP_COOKIE`` (issue 11): the same
cookies as Werkzeug's own request finds, for every shape of header, in fewer calls;
and a hostile Cookie header still gets a page, never a 500. Its query, form and cookie
values (``Values``) answer ``get`` as Werkzeug's do, without an exception for a missing
name."""

from __future__ import annotations

import cProfile
import pstats
import re

import pytest
from flask import Flask
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import BadRequestKeyError
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request as WerkzeugRequest

from idp.wsgi_request import ClefRequest, Values

HEADERS = [
    None,
    "",
    "a=1",
    "a=1; b=2",
    "a=1;b=2;;  c=3",
    "a=1; a=2",  # the same name twice: both kept, first first
    'q="quoted \\"value\\""; r="x;y"',
    "lang=fr; __Host-clef=" + "z" * 4000,
    "broken; =empty; x=",
    "caf\u00e9=cr\u00e8me",  # latin-1 text as a WSGI server hands it
    "\u00ff\u00fe=\u00c3\u0028",  # bytes that are not UTF-8, as latin-1 text
]


def _environ(header: str | None) -> dict[str, object]:
    headers = [] if header is None else [("Cookie", header)]
    return EnvironBuilder(path="/", headers=headers).get_environ()


@pytest.mark.parametrize("header", HEADERS)
def test_the_same_cookies_as_werkzeugs_request(header: str | None) -> None:
    ours = ClefRequest(_environ(header)).cookies
    theirs = WerkzeugRequest(_environ(header)).cookies
    assert isinstance(ours, type(theirs)) and isinstance(ours, Values)
    assert list(ours.lists()) == list(theirs.lists())


def test_fewer_calls_than_walking_the_headers() -> None:
    """The point of the class: no walk of the environ's headers (a real request's
    dozen headers make Werkzeug's walk about fifty calls)."""
    headers = [(f"X-Header-{i}", "v") for i in range(12)] + [("Cookie", "a=1; b=2")]

    def calls(cls: type[WerkzeugRequest]) -> int:
        request = cls(EnvironBuilder(path="/", headers=headers).get_environ())
        profile = cProfile.Profile()
        profile.enable()
        request.cookies  # noqa: B018 (the property is what is measured)
        profile.disable()
        return pstats.Stats(profile).total_calls  # type: ignore[attr-defined,no-any-return]

    assert calls(ClefRequest) + 30 < calls(WerkzeugRequest)


def test_the_app_uses_it(app: Flask) -> None:
    with app.test_request_context("/", headers={"Cookie": "a=1"}):
        from flask import request

        assert isinstance(request._get_current_object(), ClefRequest)  # type: ignore[attr-defined]
        assert request.cookies["a"] == "1"


@pytest.mark.parametrize("header", [
    "\u00ff\u00fe=\u00c3\u0028; lang=\u00e9\u00e9",
    "lang=" + "x" * 8000,
    "lang=fr; lang=en; clef_ui_locales=\u0000",
    ";;;;=;=;=",
])
def test_a_hostile_cookie_header_gets_a_page_not_a_500(app: Flask, header: str) -> None:
    """Not UTF-8, huge, repeated or empty names: the sign-in page, in a language Clef
    offers (the language cookie is only honoured when it names one)."""
    response = app.test_client().get(
        "/signin", environ_overrides={"HTTP_COOKIE": header})
    assert response.status_code == 200
    assert re.search(rb'<html lang="(en|fr)"', response.data)


PAIRS = [("a", "1"), ("a", "2"), ("n", "x"), ("e", ""), ("caf\u00e9", "cr\u00e8me")]
ASKS = [("a", None, None), ("a", "d", int), ("n", "d", int), ("n", None, str.upper),
        ("missing", None, None), ("missing", "d", None), ("missing", 7, int), ("e", "d", None),
        ("caf\u00e9", None, None), (1, "d", None), (None, "d", None)]


@pytest.mark.parametrize(("key", "default", "convert"), ASKS)
def test_values_get_answers_as_werkzeugs(key: object, default: object, convert: object) -> None:
    ours, theirs = Values(PAIRS), ImmutableMultiDict(PAIRS)
    assert ours.get(key, default, convert) == theirs.get(key, default, convert)  # type: ignore[call-overload]
    assert ours.get(key) == theirs.get(key)  # type: ignore[call-overload]
    assert ours.get(key, default) == theirs.get(key, default)  # type: ignore[call-overload]


def test_a_missing_name_raises_nothing_inside(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[object] = []
    original = BadRequestKeyError.__init__

    def counting(self: BadRequestKeyError, *args: object, **kwargs: object) -> None:
        made.append(self)
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(BadRequestKeyError, "__init__", counting)
    assert Values(PAIRS).get("missing", "d") == "d"
    assert made == []
    assert ImmutableMultiDict(PAIRS).get("missing", "d") == "d"
    assert len(made) == 1  # what Werkzeug's get costs, and the reason for Values


def test_query_form_and_cookies_are_values(app: Flask) -> None:
    environ = EnvironBuilder(path="/signin", method="POST", query_string="next=/account",
                             data={"username": "a"}, headers=[("Cookie", "lang=fr")]).get_environ()
    request = ClefRequest(environ)
    for values in (request.args, request.form, request.cookies):
        assert isinstance(values, Values)
    assert request.args.get("next") == "/account" and request.args.get("login_hint") is None
    assert request.form.get("username") == "a" and request.cookies.get("lang") == "fr"
