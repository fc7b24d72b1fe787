"""What every request pays (issue 11): Python function calls and CPU per request kind,
in-process, for Clef beside a bare Flask route (``floor_app.py``).

    .venv/bin/python bench/request_cost.py [N] [--profile KIND] [--hooks]

Each request kind is a WSGI environ handed to ``app(environ, start_response)`` N times
(the body read to the end, as a server would), on an embedded SQLite database in a
temporary folder. UserInfo and a refresh use the tokens of one real sign-in through the
screens (tests/oidc's helpers); each refresh sends the refresh token the previous one
returned (a handful of the harness's own calls are counted with it). Function calls are
counted by cProfile over the N requests: exact and the same on every run, unlike CPU
time. CPU is ``time.process_time`` over N requests without the profiler, each kind
measured in turn, three rounds, the best kept (the machine is shared).
``--profile KIND`` prints the top functions of that kind by calls (``SORT=cumulative``
or ``SORT=tottime`` for time); ``--hooks`` prints,
per request kind, the function calls made inside each Flask hook and the session
interface (the rest is Flask, the view and the WSGI layers).
"""

from __future__ import annotations

import base64
import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from werkzeug.test import EnvironBuilder

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parent.parent

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
    return None


def _environ(path: str, method: str = "GET", headers: dict[str, str] | None = None) -> dict[str, Any]:
    builder = EnvironBuilder(path=path, method=method, headers=headers or {},
                             base_url="http://127.0.0.1:5000")
    try:
        return builder.get_environ()
    finally:
        builder.close()


def _prepare(app: WsgiApp) -> None:
    """What a kind does before each request, outside the counts (a fresh sign-in)."""
    prepare = getattr(app, "prepare", None)
    if prepare is not None:
        prepare()


def _one(app: WsgiApp, environ: dict[str, Any]) -> None:
    body = app(dict(environ), _start_response)
    for _ in body:
        pass
    close = getattr(body, "close", None)
    if close is not None:
        close()


def calls_per_request(app: WsgiApp, environ: dict[str, Any], n: int) -> tuple[float, pstats.Stats]:
    _prepare(app)
    _one(app, environ)  # warm: caches filled, as on a server after its first requests
    profile = cProfile.Profile()
    if getattr(app, "prepare", None) is None:
        profile.enable()
        for _ in range(n):
            _one(app, environ)
        profile.disable()
    else:  # each request prepared with the profiler off (one call of its own counted)
        for _ in range(n):
            _prepare(app)
            profile.enable()
            _one(app, environ)
            profile.disable()
    stats = pstats.Stats(profile)
    return stats.total_calls / n, stats  # type: ignore[attr-defined]


def cpu_per_request(app: WsgiApp, environ: dict[str, Any], n: int) -> float:
    took = 0.0
    for _ in range(n):
        _prepare(app)
        started = time.process_time()
        _one(app, environ)
        took += time.process_time() - started
    return took / n


def hook_calls(app: Any, wsgi: WsgiApp, environ: dict[str, Any], n: int) -> dict[str, float]:
    """Function calls per request through ``wsgi`` made inside each hook of the Flask
    ``app`` (nested calls included), counted with ``sys.setprofile``; the hooks are
    restored afterwards."""
    counts: dict[str, int] = {"total": 0}
    inside: list[str] = []

    def tracer(_frame: Any, event: str, _arg: Any) -> None:
        if event in ("call", "c_call"):
            counts["total"] += 1
            if inside:
                counts[inside[-1]] = counts.get(inside[-1], 0) + 1

    def wrapped(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def hook(*args: Any, **kwargs: Any) -> Any:
            inside.append(name)
            try:
                return fn(*args, **kwargs)
            finally:
                inside.pop()
        return hook

    saved: list[tuple[list[Any], list[Any]]] = []
    for kind, table in (("before", app.before_request_funcs), ("after", app.after_request_funcs),
                        ("teardown", app.teardown_request_funcs)):
        hooks = table.get(None, [])
        saved.append((hooks, list(hooks)))
        hooks[:] = [wrapped(f"{kind} {getattr(fn, '__name__', None) or getattr(fn, 'func', fn).__name__}", fn)
                    for fn in hooks]
    saved.append((app.teardown_appcontext_funcs, list(app.teardown_appcontext_funcs)))
    app.teardown_appcontext_funcs[:] = [wrapped(f"appcontext {fn.__name__}", fn)
                                        for fn in app.teardown_appcontext_funcs]
    interface = app.session_interface
    opened, saved_session = interface.open_session, interface.save_session
    interface.open_session = wrapped("session open", opened)
    interface.save_session = wrapped("session save", saved_session)
    try:
        _one(wsgi, environ)
        counts.clear()
        counts["total"] = 0
        sys.setprofile(tracer)
        for _ in range(n):
            wsgi(dict(environ), _start_response)
        sys.setprofile(None)
    finally:
        for hooks, original in saved:
            hooks[:] = original
        del interface.open_session, interface.save_session
    return {name: count / n for name, count in counts.items()}


class Refresh:
    """A WSGI app that is one refresh request (RFC 6749 §6) to ``app`` each call: the
    refresh token rotates (S40), so each request sends the one the previous returned."""

    def __init__(self, app: WsgiApp, basic: str, refresh_token: str) -> None:
        self.app, self.refresh_token = app, refresh_token
        self.environ = _environ("/token", "POST", {
            "Authorization": basic, "Content-Type": "application/x-www-form-urlencoded"})

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """A handful of calls of its own (the body made, the answer read) on top of the
        app's."""
        form = f"grant_type=refresh_token&refresh_token={self.refresh_token}".encode()
        request = dict(self.environ, CONTENT_LENGTH=str(len(form)), **{"wsgi.input": io.BytesIO(form)})
        body = b"".join(self.app(request, start_response))
        self.refresh_token = json.loads(body)["refresh_token"]
        return [body]


class CodeExchange:
    """A WSGI app that is one code exchange (RFC 6749 §4.1.3, PKCE S256, client_secret_basic,
    the redirect URI percent-encoded as HTTP libraries send it) to ``app`` each call.
    :meth:`prepare`, outside the counts, has the signed-in browser bring back a fresh code
    from /authorize (a trusted portal: no consent page), as in a flow."""

    def __init__(self, app: Any, portal: Any, browser: Any, basic: str) -> None:
        self.app, self.portal, self.browser = app, portal, browser
        self.environ = _environ("/token", "POST", {
            "Authorization": basic, "Content-Type": "application/x-www-form-urlencoded"})
        self.form = b""

    def prepare(self) -> None:
        from urllib.parse import quote, urlencode

        from tests.oidc.conftest import sign_in_through
        from tests.oidc.rp import Request

        req = Request()
        code = sign_in_through(self.portal, self.browser, req)["code"]
        self.form = urlencode({"grant_type": "authorization_code", "code": code,
                               "redirect_uri": self.portal.redirect_uri,
                               "code_verifier": req.verifier}, quote_via=quote, safe="").encode()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        statuses: list[str] = []

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            statuses.append(status)
            return start_response(status, headers, exc_info)

        request = dict(self.environ, CONTENT_LENGTH=str(len(self.form)),
                       **{"wsgi.input": io.BytesIO(self.form)})
        body = b"".join(self.app(request, start))
        if not statuses or not statuses[0].startswith("200"):
            raise SystemExit(f"/token (code): {statuses} {body[:300]!r}")
        return [body]


def token_kinds(app: Any) -> dict[str, tuple[WsgiApp, dict[str, Any]]]:
    """UserInfo, a refresh and a code exchange for a portal's tokens, from one real
    sign-in through the test screens (tests/oidc): a trusted confidential portal, an
    account with an app."""
    sys.path.insert(0, str(ROOT))
    from tests.helpers import create_account
    from tests.oidc.conftest import full_flow
    from tests.oidc.rp import RelyingParty, register_client

    client_id, secret = register_client(app, "--name", "Bench portal", "--redirect-uri",
                                        "https://portal.example/callback", "--trusted")
    create_account(app, "alice")
    portal = RelyingParty(app, client_id, secret or "")
    flow = full_flow(portal)
    tokens = flow.tokens
    basic = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode("ascii")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    return {
        "userinfo": (app, _environ("/userinfo", headers=bearer)),
        "userinfo via Flask": (_behind_layers(app), _environ("/userinfo", headers=bearer)),
        "userinfo refused": (app, _environ("/userinfo", headers={"Authorization": "Bearer x"})),
        "token (refresh)": (Refresh(app, basic, tokens["refresh_token"]), _environ("/token")),
        "token (code)": (CodeExchange(app, portal, flow.browser, basic), _environ("/token")),
    }


class ConsentPost:
    """A WSGI app that is one consent answer ("allow") to ``app`` each call: a fresh
    authorization request each time (its own ``state`` and ``nonce``, from a counter:
    a nonce is used once, S35), posted with the signed-in browser's cookie and CSRF
    token. The request is made ready beforehand; only its query's end and the body are
    made per call (a handful of the harness's own calls counted with it)."""

    def __init__(self, app: WsgiApp, target: str, cookie: str, csrf: str) -> None:
        self.app, self.count = app, 0
        self.environ = _environ(target, "POST", {
            "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
        self.form = f"csrf_token={csrf}&decision=allow".encode()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        self.count += 1
        query = f"{self.environ['QUERY_STRING']}&state=s{self.count}&nonce=n{self.count}"
        request = dict(self.environ, QUERY_STRING=query, CONTENT_LENGTH=str(len(self.form)),
                       **{"wsgi.input": io.BytesIO(self.form)})
        return [b"".join(self.app(request, start_response))]


def authorize_kinds(app: Any) -> dict[str, tuple[WsgiApp, dict[str, Any]]]:
    """The three /authorize requests of a sign-in at a portal that asks consent: a new
    visitor's GET (303 to the sign-in page), the signed-in person's GET (the consent
    page) and the consent form's POST (a code). One browser signed in through the test
    screens (tests/oidc); the same request each time for the GETs (nothing they do
    changes state), a fresh one for each POST."""
    sys.path.insert(0, str(ROOT))
    from tests.helpers import create_account
    from tests.oidc.rp import RelyingParty, Request, register_client
    from tests.support.screens import csrf_from, pass_second_factor, sign_in_at

    client_id, secret = register_client(app, "--name", "Consent portal", "--redirect-uri",
                                        "https://jobs.example/cb")
    portal = RelyingParty(app, client_id, secret, "https://jobs.example/cb")
    create_account(app, "bob")
    browser = app.test_client()
    target = portal.authorize_url(Request())
    sign_in_at(browser, browser.get(target).headers["Location"], "bob")
    back = pass_second_factor(app, browser, "bob")
    page = browser.get(back.headers["Location"])
    assert page.status_code == 200, page.status_code
    cookie = "; ".join(f"{c.key}={c.value}" for c in browser._cookies.values())
    return {
        "GET /authorize (new)": (app, _environ(target)),
        "GET /authorize (consent page)": (app, _environ(target, headers={"Cookie": cookie})),
        "POST /authorize": (ConsentPost(app, portal.authorize_url(Request(), state=None, nonce=None),
                                        cookie, csrf_from(page)), _environ("/authorize")),
    }


class SignInStep:
    """A WSGI app that is one POST of a sign-in step each call, for an account with an
    authenticator app: ``POST /signin`` (the password) or ``POST /2fa/challenge`` (a
    TOTP code). :meth:`prepare`, outside the counts, brings a new browser to the page
    before it (the real screens, tests/support), so every request is the step of a
    fresh sign-in, as in a flow: the password step from an anonymous session with its
    form token; the second step from a session that just passed the password, with a
    code of the current time step (the account's last accepted step forgotten first:
    S11 refuses a step twice, and the clock here is the real one)."""

    def __init__(self, app: Any, path: str, username: str) -> None:
        self.app, self.path, self.username = app, path, username
        self.environ: dict[str, Any] = {}

    def prepare(self) -> None:
        from tests.support.accounts import GOOD_PASSWORD, current_totp
        from tests.support.screens import csrf_from

        browser = self.app.test_client()
        page = browser.get("/signin")
        form = {"csrf_token": csrf_from(page), "username": self.username,
                "password": GOOD_PASSWORD}
        if self.path == "/2fa/challenge":
            assert browser.post("/signin", data=form).status_code == 303
            self._forget_totp_step()
            page = browser.get("/2fa/challenge")
            form = {"csrf_token": csrf_from(page), "code": current_totp(self.app)}
        cookie = browser.get_cookie("clef_session")
        assert cookie is not None
        builder = EnvironBuilder(path=self.path, method="POST", data=form,
                                 headers={"Cookie": f"clef_session={cookie.value}"},
                                 base_url="http://127.0.0.1:5000")
        try:
            self.environ = builder.get_environ()
        finally:
            builder.close()

    def _forget_totp_step(self) -> None:
        from sqlalchemy import update

        from mfa.models import SecondFactor

        clef = self.app.extensions["clef"]
        db = clef.session_factory()
        try:
            db.execute(update(SecondFactor).values(last_totp_step=None))
            db.commit()
        finally:
            db.close()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        statuses: list[str] = []

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            statuses.append(status)
            return start_response(status, headers, exc_info)

        body = b"".join(self.app(dict(self.environ), start))
        if not statuses or not statuses[0].startswith("303"):
            raise SystemExit(f"{self.path}: {statuses} {body[:300]!r}")
        return [body]


def sign_in_kinds(app: Any) -> dict[str, tuple[WsgiApp, dict[str, Any]]]:
    """The two POSTs of a sign-in besides its GET pages (argon2 at the tests' cheap
    parameters here, so the password POST shows what it costs beyond the hash)."""
    sys.path.insert(0, str(ROOT))
    from tests.helpers import create_account

    create_account(app, "carol")
    return {
        "POST /signin": (SignInStep(app, "/signin", "carol"), _environ("/signin")),
        "POST /2fa/challenge": (SignInStep(app, "/2fa/challenge", "carol"), _environ("/2fa")),
    }


def _behind_layers(app: Any) -> WsgiApp:
    """What is behind the layers answering in front of Flask (idp.oidc.published,
    idp.oidc.userinfo_endpoint): Flask with its security headers."""
    from idp.security_headers import SecurityHeaders

    wsgi = app.wsgi_app
    while not isinstance(wsgi, SecurityHeaders):
        wsgi = wsgi.app
    return wsgi  # type: ignore[no-any-return]


def clef_app(folder: str) -> WsgiApp:
    from idp.app import create_app
    from idp.migrate import upgrade

    # The limits as configured, only high enough for thousands of refreshes a minute.
    many = "1000000/minute"
    app = create_app({"service": {"instance_dir": folder},
                      "rate_limit": {"token_per_ip": many, "token_per_client": many,
                                     "signin_per_ip": many, "second_factor_per_ip": many},
                      # The tests' cheap argon2: the password POST's own work shows.
                      "argon2": {"memory_kib": 1024, "time_cost": 1, "parallelism": 1}})
    upgrade(app.extensions["clef"].settings.database_url)
    with app.app_context():
        from idp.oidc.runtime import oidc
        from idp.runtime import db, services

        oidc().signing_keys.ensure(db(), services().clock.now())
        db().commit()
    return app


def main() -> None:
    args = sys.argv[1:]
    show_hooks = "--hooks" in args
    if show_hooks:
        args.remove("--hooks")
    profile_kind = None
    if "--profile" in args:
        at = args.index("--profile")
        profile_kind = args[at + 1]
        del args[at:at + 2]
    n = int(args[0]) if args else 2000
    import floor_app

    with tempfile.TemporaryDirectory(prefix="clef-cost-") as folder:
        app = clef_app(folder)
        discovery = "/.well-known/openid-configuration"
        flask_only = app.wsgi_app.app  # the Flask app behind the published-documents layer
        kinds: dict[str, tuple[WsgiApp, dict[str, Any]]] = {
            "floor (bare Flask)": (floor_app.app, _environ(discovery)),
            "discovery": (app, _environ(discovery)),
            "discovery via Flask": (flask_only, _environ(discovery)),
            "discovery 304": (app, _environ(discovery, headers={"If-None-Match": _etag(app, discovery)})),
            "discovery+cookie": (app, _environ(discovery, headers={"Cookie": "clef_session=not-one"})),
            "jwks": (app, _environ("/jwks")),
            "jwks via Flask": (flask_only, _environ("/jwks")),
            "404": (app, _environ("/no-such-page")),
            "GET / (page)": (app, _environ("/")),
            "GET /signin (page)": (app, _environ("/signin")),
            **token_kinds(app),
            **authorize_kinds(app),
            **sign_in_kinds(app),
        }
        if show_hooks:
            for name in ("404", "GET / (page)", "userinfo"):
                found = hook_calls(app, *kinds[name], 50)
                print(f"{name}: {found.pop('total'):.0f} calls per request, of which")
                for hook, count in sorted(found.items(), key=lambda x: -x[1]):
                    print(f"    {count:6.0f}  {hook}")
            return
        calls = {}
        for name, (wsgi, environ) in kinds.items():
            count, stats = calls_per_request(wsgi, environ, min(n, 300))
            calls[name] = count
            if name == profile_kind:
                stats.sort_stats(os.environ.get("SORT", "ncalls")).print_stats(40)
        cpu: dict[str, float] = {}
        for _ in range(3):
            for name, (wsgi, environ) in kinds.items():
                took = cpu_per_request(wsgi, environ, n)
                cpu[name] = min(cpu.get(name, took), took)
        print(f"{'request kind':30} {'calls/req':>10} {'CPU ms/req':>11}")
        for name in kinds:
            print(f"{name:30} {calls[name]:10.0f} {cpu[name] * 1e3:11.3f}")


def _etag(app: WsgiApp, path: str) -> str:
    headers: dict[str, str] = {}

    def start(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        headers.update(response_headers)

    body = app(_environ(path), start)
    for _ in body:
        pass
    getattr(body, "close", lambda: None)()
    return headers.get("ETag", '"none"')


if __name__ == "__main__":
    main()
