"""Strategies of hostile input: what attackers and broken clients send."""

from __future__ import annotations

from hypothesis import strategies as st

# Values that have broken, or could break, a parser, a database or a template.
AWKWARD = [
    "", " ", "\x00", "a\x00b", "\t\r\n", "ß" * 40, "ﬀ" * 40, "\u0661\u0662\u0663\u0664\u0665\u0666",
    "\uff11\uff12\uff13\uff14\uff15\uff16", "\u00b2", "123456", "000000", "-1", "1e309",
    "9" * 40, "0x10", "NaN",
    "'; DROP TABLE accounts; --", "<script>alert(1)</script>", "{{ 7*7 }}", "%(x)s", "%s%n",
    "../../etc/passwd", "//evil.example/", "https://evil.example/", "javascript:alert(1)",
    "\u202eevil", "\ufeff", "\U0001f600" * 10, "e\u0301" * 30, "A" * 300, "x" * 5000,
    "2001-05-31", "2001-02-30", "0000-00-00", "9999-12-31", "1969-12-31",
    "a@b.c", "alice@example.org", "a" * 250 + "@example.org", "ß@ß.ß", "@", "a@",
    "totp", "email", "allow", "deny", "1", "y", "true", "on",
]


def text_value() -> st.SearchStrategy[str]:
    """One field's value: an awkward classic or arbitrary Unicode (no lone surrogates,
    which no HTTP client can encode)."""
    arbitrary = st.text(st.characters(exclude_categories=("Cs",)), max_size=80)
    return st.one_of(st.sampled_from(AWKWARD), arbitrary)


def maybe(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    """A field that may be left out (None)."""
    return st.one_of(st.none(), strategy)


def field_values(fields: tuple[str, ...],
                 known: dict[str, list[str]] | None = None) -> st.SearchStrategy[dict[str, str]]:
    """Form data for ``fields``: each left out or given a hostile value, or one of the
    ``known`` good values for that field (so requests also get past the first check)."""
    known = known or {}

    def one(name: str) -> st.SearchStrategy[str | None]:
        good = known.get(name)
        value = st.one_of(st.sampled_from(good), text_value()) if good else text_value()
        return maybe(value)

    return st.fixed_dictionaries({name: one(name) for name in fields}).map(
        lambda drawn: {k: v for k, v in drawn.items() if v is not None})


QUERY_KEYS = ["next", "login_hint", "sent", "restart", "failed", "changed", "code", "state"]


def query_values() -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(st.sampled_from(QUERY_KEYS), text_value(), max_size=3)
