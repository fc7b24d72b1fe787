"""Every test builds its own app, and each app's URL map compiles a URL builder for each
of its ~60 rules: Werkzeug writes Python source for it as an AST and compiles it
(``Rule._compile_builder``), about two thirds of what building an app costs. The apps of
one run have the same rules, so the test processes share the builders, as they share the
compiled templates (``tests.conftest.SharedTemplateCode``).

A builder is a plain function of the rule (bound to it as a method when compiled), made
from the rule's trace (its static parts and its variables' names, in order), the URL form
of the defaults it bakes in, and whether it appends unknown arguments as a query: those
are the key, so a rule that differs in any of them is compiled afresh. Werkzeug itself
is unchanged; the service does not use this (it builds one app per process)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.routing.rules import Rule

_compile_builder = Rule._compile_builder
_BUILDERS: dict[tuple[Any, ...], Callable[..., tuple[str, str]]] = {}


def _shared_builder(rule: Rule, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
    defaults = rule.defaults or {}
    key = (tuple(rule._trace), append_unknown,
           tuple(sorted((name, type(converter)) for name, converter in rule._converters.items())),
           tuple(sorted((name, rule._converters[name].to_url(value) if name in rule._converters
                         else repr(value)) for name, value in defaults.items())))
    builder = _BUILDERS.get(key)
    if builder is None:
        builder = _BUILDERS[key] = _compile_builder(rule, append_unknown)
    return builder


def share_rule_builders() -> None:
    """Install the shared builders for this test process."""
    Rule._compile_builder = _shared_builder  # type: ignore[method-assign]
