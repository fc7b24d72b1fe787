"""The app factory: settings, services, extensions, blueprints, hooks.

The only place the core reaches the ``mfa`` and ``recovery`` slices: it registers their
blueprints. Everything else hands over by endpoint name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from inspect import iscoroutinefunction
from typing import Any

from flask import Flask, Request, Response, g, redirect, request, signals, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from idp import health, log_format, metrics
from idp.cli import register_cli
from idp.clock import Clock, SystemClock
from idp.errors import register_error_handlers
from idp.forms import is_remembered_signature
from idp.i18n import babel, select_locale
from idp.input_guard import has_nul, nul_refusal
from idp.instance import secure_instance
from idp.mail_render import STAGED_KEY, send_staged
from idp.oidc import wiring as oidc
from idp.oidc.published import PublishedDocuments
from idp.oidc.server import PROTECTOR_KEY
from idp.oidc.token_endpoint import token_endpoint_in_front
from idp.oidc.userinfo_endpoint import userinfo_in_front
from idp.oidc.views import published_documents
from idp.ratelimit import init_limiter, storage_uri
from idp.redirects import request_target
from idp.resources import PACKAGE_DIR, resource
from idp.responses import ClefResponse
from idp.runtime import EXTENSION_KEY, Services, build_services, close_db
from idp.security_headers import SecurityHeaders, fixed_headers
from idp.settings import Settings, load_settings, resolve_secret
from idp.template_context import register_template_context
from idp.web_session import ServerSessionInterface, current_session
from idp.wsgi_request import ClefRequest

log = logging.getLogger("clef")
# Endpoints called by portals' servers, not by a person's browser: no session pages.
NOT_FOR_PEOPLE = frozenset({"oidc.token", "oidc.userinfo", "oidc.revoke", "oidc.introspect",
                            "oidc.jwks", "oidc.discovery", "health.healthz", "health.readyz",
                            "metrics.metrics"})
csrf = CSRFProtect()


FLASK_SIGNALS = (
    signals.request_started, signals.request_finished, signals.request_tearing_down,
    signals.got_request_exception, signals.appcontext_tearing_down,
    signals.appcontext_pushed, signals.appcontext_popped, signals.template_rendered,
    signals.before_render_template, signals.message_flashed,
)


class SyncFlask(Flask):
    """Flask for an app without a coroutine function anywhere (issue 11).

    Flask hands every view, hook and error handler to ``ensure_sync`` on every request,
    which asks ``inspect.iscoroutinefunction`` each time: about 70 function calls a
    request for an answer that cannot change. Clef has no async code, so each function
    is checked once, when it is registered (a view, :meth:`add_url_rule`) or when the app
    is built (everything else, :func:`refuse_coroutine_functions`), and ``ensure_sync``
    hands it back as it is. Never wrapped, an async function would not run: its
    coroutine would be taken for a response, or a teardown silently skipped; hence the
    refusal."""

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        return func

    def add_url_rule(self, rule: str, endpoint: str | None = None,
                     view_func: Callable[..., Any] | None = None,
                     provide_automatic_options: bool | None = None, **options: Any) -> None:
        if view_func is not None:
            refuse_coroutine(view_func, f"the view of {rule}")
        super().add_url_rule(rule, endpoint, view_func, provide_automatic_options, **options)


def refuse_coroutine(func: Any, where: str) -> None:
    """A ``TypeError`` when ``func`` is an ``async def`` function (or wraps one)."""
    if iscoroutinefunction(func) or iscoroutinefunction(getattr(func, "__wrapped__", None)):
        raise TypeError(f"{where} is a coroutine function ({func!r}); Clef runs no async "
                        "code (idp.app.SyncFlask)")


def registered_functions(app: Flask) -> Iterable[tuple[str, Any]]:
    """Every function Flask calls through ``ensure_sync``: views, hooks, error handlers,
    URL processors and template context processors, app-wide and per blueprint."""
    for endpoint, view in app.view_functions.items():
        yield f"the view {endpoint}", view
    tables: dict[str, Any] = {
        "before_request": app.before_request_funcs, "after_request": app.after_request_funcs,
        "teardown_request": app.teardown_request_funcs,
        "url_value_preprocessor": app.url_value_preprocessors,
        "url_default": app.url_default_functions,
        "template_context_processor": app.template_context_processors,
    }
    for kind, table in tables.items():
        for scope, funcs in table.items():
            for func in funcs:
                yield f"a {kind} hook of {scope or 'the app'}", func
    for func in app.teardown_appcontext_funcs:
        yield "a teardown_appcontext hook", func
    for scope, by_code in app.error_handler_spec.items():
        for handlers in by_code.values():
            for handler in handlers.values():
                yield f"an error handler of {scope or 'the app'}", handler
    for signal in FLASK_SIGNALS:  # Flask hands their receivers to ensure_sync too
        for receiver in signal.receivers_for(app):
            yield f"a receiver of {signal.name}", receiver


def refuse_coroutine_functions(app: Flask) -> None:
    """The start-up check of :class:`SyncFlask`: no coroutine function registered."""
    for where, func in registered_functions(app):
        refuse_coroutine(func, where)


def create_app(
    overrides: Mapping[str, Any] | None = None,
    *,
    clock: Clock | None = None,
    settings: Settings | None = None,
) -> Flask:
    """Build one Clef app. ``overrides`` is the last configuration layer (tests);
    ``clock`` replaces the system clock (tests move time with it)."""
    settings = settings or load_settings(overrides)
    log_format.configure(settings.logging.format)
    app = SyncFlask(
        "idp",
        root_path=str(PACKAGE_DIR),
        instance_path=str(settings.instance_path),
        template_folder=str(resource("templates")),
        static_folder=str(resource("static")),
    )
    # Final headers handed on as they are when Werkzeug's pass would not change them.
    app.response_class = ClefResponse
    app.request_class = ClefRequest
    if settings.writes_instance_folder:
        secure_instance(settings.instance_path, settings.embedded_database_file)
    secret = resolve_secret(settings)
    services = build_services(settings, clock or SystemClock(), secret)
    app.extensions[EXTENSION_KEY] = services
    app.config.update(
        SECRET_KEY=services.keys.derive("flask.secret").hex(),
        CLEF_SECURE_COOKIE=settings.secure_transport,
        CLEF_LANGUAGES=settings.i18n.languages,
        CLEF_RATE_LIMITS={
            "signin_per_ip": settings.rate_limit.signin_per_ip,
            "register_per_ip": settings.rate_limit.register_per_ip,
            "email_code_per_ip": settings.rate_limit.email_code_per_ip,
            "second_factor_per_ip": settings.rate_limit.second_factor_per_ip,
            "token_per_ip": settings.rate_limit.token_per_ip,
            "token_per_client": settings.rate_limit.token_per_client,
            "forgot_username_per_ip": settings.rate_limit.forgot_username_per_ip,
            "forgot_username_per_address": settings.rate_limit.forgot_username_per_address,
            "forgot_password_per_ip": settings.rate_limit.forgot_password_per_ip,
        },
        RATELIMIT_STORAGE_URI=storage_uri(settings.rate_limit.storage_url),
        # Redis down: every limit is still enforced, counted in this process's memory
        # until Redis is back (config/defaults.toml, [rate_limit]).
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        # No X-RateLimit headers: each cost the store a second read per request; a
        # refused request gets Retry-After (idp.errors).
        RATELIMIT_HEADERS_ENABLED=False,
        BABEL_TRANSLATION_DIRECTORIES=str(resource("translations")),
        BABEL_DEFAULT_LOCALE=settings.i18n.languages[0],
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the server-side session
        # Flask-WTF's https Referer check would refuse every browser POST: our own
        # Referrer-Policy is no-referrer (S25). The session-bound token is the check (S24).
        WTF_CSRF_SSL_STRICT=False,
        MAX_CONTENT_LENGTH=64 * 1024,
        PROPAGATE_EXCEPTIONS=False,
        TRAP_HTTP_EXCEPTIONS=False,
    )
    if settings.service.trusted_hosts:
        app.config["TRUSTED_HOSTS"] = list(settings.service.trusted_hosts)
    if not settings.secure_transport:
        log.warning(
            "base_url %s is plain http: the session cookie is sent without Secure and "
            "without the __Host- prefix (S23). Use https outside a loopback test set-up.",
            settings.service.base_url,
        )
    app.session_interface = ServerSessionInterface()
    babel.init_app(app, locale_selector=select_locale)
    csrf.init_app(app)
    init_limiter(app)
    metrics.init_app(app, settings.metrics.allowed_networks)
    health.init_app(app, settings.rate_limit.storage_url)
    _register_slices(app, services)
    oidc.init_app(app, services, csrf)
    register_error_handlers(app)
    register_template_context(app)
    _register_hooks(app)
    register_cli(app)
    # Outermost first: the provider's public documents, then UserInfo, answered before
    # Flask (issue 11), then every other response given the security headers (S25),
    # the proxy's headers applied, and the common refresh answered before Flask
    # (issue 11: behind ProxyFix and SecurityHeaders, as Flask).
    trusted_hosts = list(settings.service.trusted_hosts) or None
    app.wsgi_app = token_endpoint_in_front(  # type: ignore[method-assign, assignment]
        app.config, app.extensions, app.wsgi_app, trusted_hosts, metrics.observe_latency,
        metrics.TOKENS.labels)
    if settings.rate_limit.trusted_proxies:
        n = settings.rate_limit.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=0)  # type: ignore[method-assign]
    app.wsgi_app = SecurityHeaders(app.wsgi_app, hsts=settings.secure_transport)  # type: ignore[method-assign]
    app.wsgi_app = userinfo_in_front(  # type: ignore[method-assign, assignment]
        app, app.wsgi_app, app.extensions[PROTECTOR_KEY], settings.secure_transport,
        trusted_hosts, metrics.observe_latency)
    app.wsgi_app = PublishedDocuments(  # type: ignore[method-assign]
        app.wsgi_app, published_documents(app), fixed_headers(settings.secure_transport),
        trusted_hosts, metrics.observe_latency,
    )
    refuse_coroutine_functions(app)
    return app


def _register_slices(app: Flask, services: Services) -> None:
    """The core's screens, then each slice: its services (built on the core's, with
    their registrations on the container) and its blueprint."""
    from idp.views import account, auth, register
    from mfa import runtime as mfa_runtime
    from mfa import views as mfa_views
    from recovery import runtime as recovery_runtime
    from recovery import views as recovery_views

    app.register_blueprint(auth.bp)
    app.register_blueprint(register.bp)
    app.register_blueprint(account.bp)
    mfa_runtime.init_app(app, services)
    app.register_blueprint(mfa_views.bp)
    recovery_runtime.init_app(app, services)
    app.register_blueprint(recovery_views.bp)
    from partners import wiring as partners_wiring

    partners_wiring.init_app(app, services, csrf)


# Pages a timed-out session may still reach without being sent to the notice first.
EXPIRED_SESSION_MAY_SEE = NOT_FOR_PEOPLE | {
    "auth.session_expired", "auth.session_remaining", "auth.choose_language", "static"}


def _register_hooks(app: Flask) -> None:
    """The app's own per-request steps, as one before-request and one after-request
    function (issue 11): each hook Flask runs costs its dispatch, and each step looked
    ``request``, ``g`` and the session up again through their proxies. The order is
    the one they had as separate hooks; the slices' hooks (partners) and the
    extensions' (the limiter) still run as their own."""
    csrf_methods = frozenset(app.config["WTF_CSRF_METHODS"])
    # Flask-WTF's own hook checked every request's exemptions before its method; the
    # same check, made on the methods it applies to only, is step 3 below.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.before_request_funcs[None] = [
        hook for hook in app.before_request_funcs.get(None, []) if not _is_csrf_hook(hook)]
    config = app.config
    exempt_endpoints: dict[str, bool] = {}

    def check_csrf(current: Request, store: Any) -> None:
        """Flask-WTF's ``protect(apply_exemptions=True)``, with each endpoint's
        exemption looked up once: exemptions are made while the app is built and never
        taken back, so a cached answer can only be as strict as a fresh one. ``current``
        and ``store`` are the request and ``g`` the hook looked up once (issue 11)."""
        endpoint = current.endpoint
        if not endpoint:
            return  # as Flask-WTF: no view matched (a 404 or a 405), nothing to protect
        exempt = exempt_endpoints.get(endpoint)
        if exempt is None:
            exempt = exempt_endpoints[endpoint] = bool(csrf._is_exempt())
        if exempt:
            return
        # The form's token as this process signed it for this very session: valid by
        # construction (idp.forms.is_remembered_signature); anything else is checked
        # by Flask-WTF, as is every request when tokens expire or the referrer counts.
        if (config["WTF_CSRF_TIME_LIMIT"] is None and not config["WTF_CSRF_SSL_STRICT"]
                and is_remembered_signature(
                    config.get("WTF_CSRF_SECRET_KEY", app.secret_key),
                    config["WTF_CSRF_FIELD_NAME"],
                    current.form.get(config["WTF_CSRF_FIELD_NAME"]))):
            store.csrf_valid = True  # as Flask-WTF marks a request it checked
            return
        csrf.protect()

    def before_request() -> ResponseReturnValue | None:
        """1. the request's clock starts (metrics); 2. the session could not be read:
        the database is down (idp.errors: a 503), before the CSRF check needs the
        session; 3. S24: an unsafe method carries the session's CSRF token, unless the
        view is exempt (portals' servers, idp.oidc.views.CSRF_EXEMPT); 4. S28: no NUL
        byte (idp.input_guard); 5. J4: the first request after a signed-in session
        timed out says so."""
        current: Request = request._get_current_object()  # type: ignore[attr-defined]
        store = g._get_current_object()
        metrics.start_timer(store)
        session = current_session()
        if session.unavailable is not None:
            raise session.unavailable
        if current.method in csrf_methods and config["WTF_CSRF_ENABLED"]:
            check_csrf(current, store)
        if has_nul(current):
            return nul_refusal(current.endpoint, NOT_FOR_PEOPLE)
        if session.expired and current.endpoint not in EXPIRED_SESSION_MAY_SEE:
            target = request_target(current.method, current.full_path)
            return redirect(url_for("auth.session_expired", next=target), code=303)
        return None

    def after_request(response: Response) -> Response:
        """Mail staged by the request and committed leaves now (idp.outbox; most
        requests stage none and pay one look-up); then the request's time is observed
        (metrics), last, as before."""
        store = g._get_current_object()
        if STAGED_KEY in store:
            send_staged()
        metrics.observe_response(request._get_current_object(),  # type: ignore[attr-defined]
                                 store, response)
        return response

    app.before_request_funcs[None].insert(0, before_request)
    after = app.after_request_funcs.setdefault(None, [])
    after.insert(0, after_request)  # Flask runs after-request hooks last first

    @app.teardown_appcontext
    def teardown(exc: BaseException | None) -> None:
        close_db(exc)


def _is_csrf_hook(hook: Any) -> bool:
    """Flask-WTF's own before-request check (made inert by WTF_CSRF_CHECK_DEFAULT)."""
    return (getattr(hook, "__module__", "") == "flask_wtf.csrf"
            and getattr(hook, "__name__", "") == "csrf_protect")
