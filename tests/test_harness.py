"""The test harness's own shortcuts build what the libraries would."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter

from tests.support import rule_builders


def test_shared_url_builders_build_what_werkzeug_compiles_for_every_rule(app: Any) -> None:
    """Every rule of a test app, built through the shared builder and through one Werkzeug
    compiles for it afresh, with and without an unknown argument (the query string), gives
    the same URL."""
    values_for = {IntegerConverter: 7}
    rules = list(app.url_map.iter_rules())
    assert len(rules) > 40
    for rule in rules:
        values = {name: values_for.get(type(rule._converters[name]), "a b/é")
                  for name in rule.arguments if name not in (rule.defaults or {})}
        for append_unknown, extra in ((False, {}), (True, {"next": "/x?y=1"})):
            fresh = rule_builders._compile_builder(rule, append_unknown).__get__(rule, None)
            shared = rule._build_unknown if append_unknown else rule._build
            assert shared(**values, **extra) == fresh(**values, **extra), rule.rule


def test_a_second_app_reuses_the_compiled_builders(make_app: Any) -> None:
    """A second app's rules use the very builders of the first (what saves the time)."""
    first, second = make_app(), make_app()
    built = {(r.endpoint, r.rule): r._build.__func__ for r in first.url_map.iter_rules()}
    assert all(r._build.__func__ is built[r.endpoint, r.rule] for r in second.url_map.iter_rules())
