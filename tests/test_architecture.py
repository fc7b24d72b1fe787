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


# Decisions live in services (warehouse's accounts services): counting an attempt,
# issuing or burning a code, claiming a TOTP step, writing last-seen. A view that calls
# one of these makes a decision a service owns.
SERVICE_DECISIONS = frozenset({"claim", "issue", "burn", "claim_totp_step"})
# The second step's views look up, call and render: the service counts, audits, commits.
SECOND_STEP_VIEWS = ("mfa/views/challenge.py", "mfa/views/common.py")


def view_modules() -> list[Path]:
    return sorted(path for package in ("idp", "mfa", "recovery")
                  for path in (ROOT / package).rglob("*.py")
                  if "views" in path.relative_to(ROOT).as_posix())


def decisions_in(source: str, names: frozenset[str]) -> list[str]:
    """Calls ``x.name(...)`` for ``name`` in ``names``, and assignments to
    ``x.last_seen_at``, with their line."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in names):
            found.append(f"{node.lineno} calls {node.func.attr}")
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found += [f"{node.lineno} writes last_seen_at" for target in targets
                      for leaf in ast.walk(target)
                      if isinstance(leaf, ast.Attribute) and leaf.attr == "last_seen_at"]
    return found


def test_issue10_views_leave_decisions_to_services():
    found = [f"{path.relative_to(ROOT).as_posix()}:{line}" for path in view_modules()
             for line in decisions_in(path.read_text(encoding="utf-8"), SERVICE_DECISIONS)]
    assert found == []


def test_issue10_second_step_views_neither_audit_nor_commit():
    found = [f"{name}:{line}" for name in SECOND_STEP_VIEWS
             for line in decisions_in((ROOT / name).read_text(encoding="utf-8"),
                                      frozenset({"record", "commit"}))]
    imports = [f"{name}:{line} imports {module}" for name in SECOND_STEP_VIEWS
               for line, module in imports_in((ROOT / name).read_text(encoding="utf-8"), "mfa.views")
               if module in ("idp.audit", "idp.throttle")]
    assert found + imports == []


def test_issue10_slices_take_shared_words_from_idp_messages():
    """Words several slices say live in idp.messages; no slice reaches into another's
    views for them (only the core's view helpers, idp.views.common, are shared)."""
    found = [line for package in ("mfa", "recovery", "idp/oidc")
             for line in offending(package, ("idp",))
             if " imports idp.views." in line and " imports idp.views.common" not in line]
    assert found == []


@pytest.mark.parametrize("source", [
    "throttle.claim(db, key, now)\n",
    "def f():\n    codes.burn(db, 1, typed, now)\n",
    "record.last_seen_at = now\n",
])
def test_issue10_the_decision_checker_sees_the_old_shape(source):
    assert decisions_in(source, SERVICE_DECISIONS) != []


def mail_failures_caught(source: str) -> list[int]:
    """Lines of ``except`` clauses naming MailNotSent."""
    return [node.lineno for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.ExceptHandler) and node.type is not None
            and "MailNotSent" in ast.unparse(node.type)]


def test_issue10_one_mail_path_swallows_mail_not_sent():
    """Every mail leaves through the outbox (idp.outbox), the one place that logs a mail
    that could not leave and keeps it for the worker."""
    found = {path.relative_to(ROOT).as_posix() for package in ("idp", "mfa", "recovery")
             for path in (ROOT / package).rglob("*.py")
             if mail_failures_caught(path.read_text(encoding="utf-8"))}
    assert found == {"idp/outbox.py"}


def kind_comparisons(source: str) -> list[int]:
    """Lines comparing something's ``.kind`` (``factor.kind == EMAIL``, ``!=``, ``in``)."""
    return [node.lineno for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Compare)
            and any(isinstance(side, ast.Attribute) and side.attr == "kind"
                    for side in [node.left, *node.comparators])]


def test_issue10_the_challenge_never_branches_on_the_factor_kind():
    """authentik's challengers: the kind is the checker's (mfa.checkers), so a new kind
    of factor changes no view."""
    assert kind_comparisons("if factor.kind == EMAIL:\n    pass\n") == [1]
    found = [f"{name}:{line}" for name in (*SECOND_STEP_VIEWS, "mfa/service.py")
             for line in kind_comparisons((ROOT / name).read_text(encoding="utf-8"))]
    assert found == []
