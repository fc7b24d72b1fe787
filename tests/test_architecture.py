"""Imports run one way (STYLE.md): ``mfa`` and ``recovery`` build on ``idp``; ``idp``
never imports them except the app factory, which registers their blueprints (and the
migration environment, which sees their models); ``recovery``
may call ``mfa``, never the reverse. Checked on the source with ``ast``, so an import
inside a function counts too."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FACTORY = "idp/app.py"
# The migration environment sees every table of the one database (its models only).
MIGRATIONS_ENV = "idp/migrations/env.py"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_in(source: str, package: str) -> Iterator[tuple[int, str]]:
    """(line, absolute module) for every import in ``source``, a module of ``package``:
    relative imports resolved, ``from x import y`` also reported as ``x.y`` (y may be a
    module), and literal ``importlib.import_module(...)`` / ``__import__(...)`` calls."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            stem = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            yield node.lineno, stem
            for alias in node.names:
                yield node.lineno, f"{stem}.{alias.name}"
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if name in ("import_module", "__import__") and isinstance(first, ast.Constant):
                yield node.lineno, str(first.value)


def offending(package: str, forbidden: tuple[str, ...],
              allowed: frozenset[str] = frozenset()) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative in allowed:
            continue
        module = module_name(path)
        home = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for line, name in imports_in(path.read_text(encoding="utf-8"), home):
            if name.split(".")[0] in forbidden:
                found.append(f"{relative}:{line} imports {name}")
    return found


def test_core_never_imports_the_slices_except_the_factory():
    assert offending("idp", ("mfa", "recovery"), frozenset({FACTORY, MIGRATIONS_ENV})) == []


def test_the_migration_environment_takes_only_models():
    found = offending("idp", ("mfa", "recovery"), frozenset({FACTORY}))
    assert found and all(line.startswith(f"{MIGRATIONS_ENV}:") and line.endswith(".models")
                         for line in found)


def test_mfa_never_imports_recovery():
    assert offending("mfa", ("recovery",)) == []


def test_the_checker_sees_the_factory_import():
    """Not vacuous: the one allowed import is found when it is not exempted."""
    assert any(line.startswith(f"{FACTORY}:") and "imports mfa" in line
               for line in offending("idp", ("mfa", "recovery")))


@pytest.mark.parametrize(("source", "expected"), [
    ("import mfa.totp\n", "mfa.totp"),
    ("from recovery import views\n", "recovery.views"),
    ("def f():\n    from mfa.service import x\n", "mfa.service"),
    ("import importlib\nimportlib.import_module('recovery.views')\n", "recovery.views"),
    ("from ..mfa import views\n", "idp.mfa.views"),
    ("from . import forms\n", "idp.views.forms"),
])
def test_the_checker_finds_every_kind_of_import(source, expected):
    assert expected in [name for _, name in imports_in(source, "idp.views")]
