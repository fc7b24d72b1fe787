"""Imports run one way (STYLE.md): ``mfa`` and ``recovery`` build on ``idp``; ``idp``
never imports them except the app factory, which registers their blueprints (and the
migration environment, which sees their models); ``recovery``
may call ``mfa``, never the reverse. No module of the three packages is part of an
import circle, and Flask (``flask_*``, ``werkzeug``) is imported only by the web layer
listed in ``WEB_LAYER``. Checked on the source with ``ast``, so an import inside a
function counts too."""

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

# --- No import cycles (issue 10) --------------------------------------------------------
PACKAGES = ("idp", "mfa", "recovery", "partners")


def project_modules() -> dict[str, Path]:
    """Every module of the three packages (migration scripts are loaded by Alembic, not
    imported)."""
    return {module_name(path): path
            for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
            if "migrations/versions" not in path.as_posix()}


def resolve(name: str, modules: dict[str, Path] | set[str]) -> str | None:
    """The project module an imported name lives in (``idp.runtime.db`` is
    ``idp.runtime``), or None for an outside library."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports, at any level (function bodies too)."""
    modules = project_modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        home = module if path.name == "__init__.py" else module.rpartition(".")[0]
        graph[module] = {found for _, name in imports_in(path.read_text(encoding="utf-8"), home)
                         if (found := resolve(name, modules)) is not None and found != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each an
    import circle; iterative so a deep graph cannot overflow the stack."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            child = next(edges, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles():
    """Every import counts, a function-level one too: a circle hidden in a function is
    still a circle (it only fails later, at call time)."""
    assert cycles(import_graph()) == []


@pytest.mark.parametrize(("graph", "expected"), [
    ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ({"p": {"p.v"}, "p.v": {"p"}, "q": {"q.x"}, "q.x": set()}, [["p", "p.v"]]),
])
def test_the_cycle_finder_finds_circles(graph, expected):
    """Not vacuous: a circle of two, one of three (with a module outside it), none."""
    assert sorted(cycles(graph)) == expected


def test_the_graph_sees_function_level_imports():
    graph = import_graph()
    assert "idp.cli" in graph["idp.app"]  # imported inside create_app


# --- Flask only in the web layer (issue 10) ---------------------------------------------
WEB_LIBRARIES = ("flask", "werkzeug", "flask_babel", "flask_limiter", "flask_wtf")
# Each module allowed to import Flask (or flask_* / werkzeug), and why. Everything else
# (services, models, rules) takes plain values and is tested without an app.
WEB_LAYER = {
    "idp/app.py": "the app factory",
    "idp/wsgi.py": "the WSGI entry point",
    "idp/console.py": "the `clef` console script (Flask's click group)",
    "idp/cli.py": "admin commands run on Flask's AppGroup, in the app context",
    "idp/runtime.py": "runtime glue: the app's services and the request's database session",
    "idp/web_session.py": "the server-side web session (Flask's session interface)",
    "idp/errors.py": "error pages",
    "idp/i18n.py": "i18n: Flask-Babel's locale selector",
    "idp/forms.py": "web forms (Flask-WTF)",
    "idp/ratelimit.py": "per-request rate limits (Flask-Limiter)",
    "idp/security_headers.py": "response headers",
    "idp/responses.py": "the response class (Werkzeug's final headers)",
    "idp/wsgi_request.py": "the request class (where it finds the cookies)",
    "idp/template_context.py": "what every template sees",
    "idp/mail_render.py": "mail rendered with the app's templates and sent after the response",
    "idp/messages.py": "wording shared by several slices' screens (Flask-Babel's lazy text)",
    "idp/input_guard.py": "a request hook that refuses NUL bytes before any view",
    "idp/health.py": "the /healthz and /readyz endpoints",
    "idp/metrics.py": "the /metrics endpoint and the per-request latency timer",
    "idp/views/account.py": "views",
    "idp/views/auth.py": "views",
    "idp/views/common.py": "view helpers",
    "idp/views/register.py": "views",
    "idp/oidc/wiring.py": "runtime glue: the provider plugged into the app",
    "idp/oidc/runtime.py": "runtime glue: the provider's services of the app",
    "idp/oidc/server.py": "Authlib's Flask adapter, configured through its hooks",
    "idp/oidc/views.py": "views",
    "idp/oidc/published.py": "WSGI layer serving discovery and the JWKS before Flask (Werkzeug's "
                             "ETag and Host helpers)",
    "idp/oidc/userinfo_endpoint.py": "WSGI layer answering UserInfo before Flask (its "
                                     "responses made once with Werkzeug, the Host check)",
    "idp/oidc/logout_views.py": "views",
    "idp/oidc/cli.py": "admin commands (Flask's AppGroup)",
    "idp/oidc/token_limit.py": "rate-limit keys read from the request",
    "mfa/runtime.py": "runtime glue: the slice's services of the app",
    "mfa/forms.py": "web forms (Flask-WTF)",
    "mfa/views/blueprint.py": "the slice's blueprint",
    "mfa/views/challenge.py": "views",
    "mfa/views/common.py": "view helpers",
    "mfa/views/enrol.py": "views",
    "mfa/views/keys.py": "views",
    "mfa/views/manage.py": "views",
    "recovery/runtime.py": "runtime glue: the slice's services of the app",
    "recovery/blueprint.py": "the slice's blueprint",
    "recovery/forms.py": "web forms (Flask-WTF)",
    "recovery/mail.py": "mail queued by a request, sent after its response",
    "recovery/views_password.py": "views",
    "recovery/views_questions.py": "views",
    "recovery/views_username.py": "views",
    "partners/views.py": "views",
    "partners/cli.py": "admin commands (Flask's AppGroup)",
    "partners/wiring.py": "runtime glue: the slice plugged into the app",
    "partners/runtime.py": "runtime glue: the slice's services of the app",
}


def flask_imports() -> list[str]:
    found = []
    for package in PACKAGES:
        found += offending(package, WEB_LIBRARIES, frozenset(WEB_LAYER))
    return found


def test_flask_only_in_the_web_layer():
    assert flask_imports() == []


def test_the_web_layer_list_names_real_modules():
    """A stale entry would let a new module of that name import Flask unseen."""
    assert [path for path in WEB_LAYER if not (ROOT / path).is_file()] == []


def test_the_flask_checker_sees_the_web_layer():
    """Not vacuous: the factory's Flask import is found when it is not exempted."""
    assert any(line.startswith("idp/app.py:") and "imports flask" in line
               for line in offending("idp", WEB_LIBRARIES))
