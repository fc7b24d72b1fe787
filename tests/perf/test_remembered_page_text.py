"""``_()``, ``url_for`` and the ``next`` query of every page, answered from what they
answered before (``idp.template_context``, issue 11): the same text and URLs as
Jinja's, Flask-Babel's and Werkzeug's own, in each language, and no answer of one
request or language served to another."""

from __future__ import annotations

import random
from urllib.parse import urlencode

from flask import Flask, render_template_string, url_for
from flask_babel import force_locale

from idp.template_context import QUERY_SAFE, query_value

TEXTS = ["Sign in", "Continue", "Skip to main content", "Language", "100%% sure",
         "not in the catalogue <b>&</b>"]
PAGE = "{% for t in texts %}[{{ _(t) }}]{% endfor %}[{{ _('Sign in to %(portal)s?', portal=p) }}]"


def _reference(app: Flask, source: str, **values: object) -> str:
    """The same template through the environment's installed gettext (no context one)."""
    template = app.jinja_env.from_string(source)
    return template.render(**values)


def test_texts_are_jinjas_in_each_language_escaped_or_not(app: Flask) -> None:
    for locale in ("en", "fr"):
        for autoescape in (True, False):
            source = ("{% autoescape " + str(autoescape).lower() + " %}" + PAGE
                      + "{% endautoescape %}")
            with app.test_request_context("/"), force_locale(locale):
                ours = [render_template_string(source, texts=TEXTS, p="<Jobs & Co>")
                        for _ in range(2)]  # the second one from what was remembered
                reference = _reference(app, source, texts=TEXTS, p="<Jobs & Co>")
            assert ours[0] == ours[1] == reference, (locale, autoescape)


def test_the_language_of_the_request_not_the_one_remembered_first(app: Flask) -> None:
    english = app.test_client()
    assert "Sign in" in english.get("/signin").get_data(as_text=True)
    french = app.test_client()
    french.set_cookie("clef_lang", "fr")
    body = french.get("/signin").get_data(as_text=True)
    assert 'lang="fr"' in body and "Se connecter" in body and ">Sign in<" not in body
    assert "Se connecter" not in english.get("/signin").get_data(as_text=True)
    # A portal's ui_locales switches the sign-in page too (J5).
    hinted = app.test_client().get("/signin?next=/&ui_locales=fr")
    assert hinted.status_code == 200


def test_query_values_are_encoded_as_url_for_encodes_them(app: Flask) -> None:
    chosen = ["/", "/authorize?a=b&c=d e+f%20", "/x?next=/y?z=1#frag", "é€𝄞/ü?ß=1",
              "".join(chr(c) for c in range(32, 127)), "a\u00a0b\u2028c"]
    rng = random.Random(11)  # noqa: S311  (test data, not a secret)
    alphabet = [chr(c) for c in range(32, 0x250)] + ["€", "𝄞", "\u202e"]
    chosen += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 60)))
               for _ in range(300)]
    with app.test_request_context("/"):
        for value in chosen:
            assert urlencode([("next", value)], safe=QUERY_SAFE) == "next=" + query_value(value)
            built = url_for("auth.choose_language", code="fr", next=value)
            assert built == url_for("auth.choose_language", code="fr") + "?next=" + query_value(value)


def test_remembered_urls_are_flasks_under_each_script_root(app: Flask) -> None:
    source = ("{{ url_for('static', filename='clef.css') }} {{ url_for('auth.index') }} "
              "{{ url_for('auth.choose_language', code='fr') }} "
              "{{ url_for('auth.sign_in', next='/x?y=1') }} "
              "{{ url_for('auth.sign_in', _anchor='top') }}")
    for root in ("", "/clef", "/other/mount"):
        with app.test_request_context("/", base_url="http://localhost" + root):
            ours = [render_template_string(source) for _ in range(2)]
            reference = _reference(app, source)
        assert ours[0] == ours[1] == reference
        assert (root + "/static/clef.css") in ours[0]


def test_long_values_are_not_remembered(app: Flask) -> None:
    """A ``next`` is the visitor's: one URL built per request, none kept."""

    def sizes() -> list[int]:
        processor = app.template_context_processors[None][-1]
        built = processor.__closure__  # the context processor's remembered URLs
        return [len(cell.cell_contents) for cell in built or ()
                if isinstance(cell.cell_contents, dict)]

    with app.test_request_context("/"):
        render_template_string("")  # the layout's fixed links, remembered at first
        before = sizes()
        for n in range(50):
            render_template_string("{{ url_for('auth.sign_in', next=v) }}", v="/" + "x" * 80 + str(n))
        after = sizes()
    assert after and after == before, (before, after)


def test_no_url_defaults_that_remembered_urls_would_miss(app: Flask) -> None:
    """Remembered URLs assume nothing adds values per request (``url_defaults``)."""
    assert not any(app.url_default_functions.values())


def test_the_sign_in_redirect_is_url_fors(app: Flask) -> None:
    from idp.oidc.views import sign_in_url

    targets = ["/authorize?response_type=code&client_id=a b&redirect_uri=https%3A%2F%2Fx",
               "/authorize?x=é€&y=%2F%3F", "/"]
    hints = [None, "alice", "al\"i<ce&x=1", "é 𝄞+%"]
    for root in ("", "/clef"):
        with app.test_request_context("/", base_url="http://localhost" + root):
            for target in targets:
                for hint in hints:
                    assert sign_in_url(target, hint) == url_for(
                        "auth.sign_in", next=target, login_hint=hint)
