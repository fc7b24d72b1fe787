"""One setting's value checked against its field's annotation in :mod:`idp.settings`.

The annotation is the one statement of a setting's type (str, int, float, bool, or a
``tuple`` of one of them, written as a TOML list), so a new setting needs no entry here.
A value of another type is refused with :class:`WrongType`, which the loader turns into
a ``ConfigError`` naming the setting, at start rather than as a ``TypeError`` later.
"""

from __future__ import annotations

import tomllib
from dataclasses import Field, dataclass
from typing import Any, get_args, get_origin

_SINGULAR: dict[type, str] = {str: "text", int: "a whole number", float: "a number",
                              bool: "true or false"}
_PLURAL: dict[type, str] = {str: "texts", int: "whole numbers", float: "numbers",
                            bool: "booleans"}


class WrongType(ValueError):
    """The value is not of its setting's type; the message says what was expected."""


@dataclass(frozen=True)
class EnvText:
    """The text of an ``IDP_*`` variable, read once its setting's type is known: a text
    setting takes it as it is (a secret made of digits stays text), any other reads it
    as TOML (``15``, ``2.5``, ``false``, ``[30, 7]``)."""

    text: str


@dataclass(frozen=True)
class Spec:
    """What one setting must hold, read from its dataclass field."""

    kind: type  # str, int, float or bool
    is_list: bool  # a ``tuple[kind, ...]`` field
    secret: bool  # a field left out of repr(): its value never appears in an error

    @property
    def expected(self) -> str:
        return f"a list of {_PLURAL[self.kind]}" if self.is_list else _SINGULAR[self.kind]


def spec_of(owner: type[Any], item: Field[Any], hint: Any) -> Spec:
    """The :class:`Spec` of ``owner.item`` annotated ``hint``. Raises TypeError on an
    annotation no TOML value can have (a programming error the first test finds)."""
    args = get_args(hint)
    if get_origin(hint) is tuple and len(args) == 2 and args[1] is Ellipsis and args[0] in _SINGULAR:
        return Spec(args[0], True, not item.repr)
    if hint in _SINGULAR:
        return Spec(hint, False, not item.repr)
    raise TypeError(f"{owner.__name__}.{item.name}: a setting is str, int, float, bool or "
                    "tuple[<one of them>, ...]")


def read_value(value: Any, spec: Spec) -> Any:
    """``value`` as ``spec`` says (lists become tuples, whole numbers floats where a
    number is wanted). Raises :class:`WrongType`."""
    if isinstance(value, EnvText):
        value = value.text if spec.kind is str and not spec.is_list else _toml_value(value.text)
    try:
        if not spec.is_list:
            return _one(value, spec.kind)
        if not isinstance(value, list | tuple):
            raise ValueError
        return tuple(_one(item, spec.kind) for item in value)
    except ValueError:
        shown = "" if spec.secret else f", not {value!r}"
        raise WrongType(f"must be {spec.expected}{shown}") from None


def _one(value: Any, kind: type) -> Any:
    """``value`` as ``kind``, else ValueError. A boolean is not a number, and a whole
    number is a number (TOML writes ``5`` for 5.0)."""
    if isinstance(value, bool) != (kind is bool):
        raise ValueError
    if kind is float and isinstance(value, int):
        return float(value)
    if not isinstance(value, kind):
        raise ValueError
    return value


def _toml_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw  # not TOML: the type check says what was expected
