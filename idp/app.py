"""The app factory: settings, services, extensions, blueprints, hooks.

The only place the core reaches the ``mfa`` and ``recovery`` slices: it registers their
blueprints. Everything else hands over by endpoint name.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from idp import health, log_format, metrics
from idp.cli import register_cli
from idp.clock import Clock, SystemClock
from idp.errors import register_error_handlers
from idp.i18n import babel, select_locale
from idp.input_guard import register_input_guard
from idp.instance import secure_instance
from idp.mail_render import STAGED_KEY, send_staged
from idp.oidc import wiring as oidc
from idp.oidc.published import PublishedDocuments
from idp.oidc.views import published_documents
from idp.ratelimit import init_limiter, storage_uri
from idp.redirects import request_target
from idp.resources import PACKAGE_DIR, resource
from idp.runtime import EXTENSION_KEY, Services, build_services, close_db
from idp.security_headers import SecurityHeaders, fixed_headers
from idp.settings import Settings, load_settings, resolve_secret
from idp.template_context import register_template_context
from idp.web_session import ServerSessionInterface, current_session

log = logging.getLogger("clef")
# Endpoints called by portals' servers, not by a person's browser: no session pages.
NOT_FOR_PEOPLE = frozenset({"oidc.token", "oidc.userinfo", "oidc.revoke", "oidc.introspect",
                            "oidc.jwks", "oidc.discovery", "health.healthz", "health.readyz",
                            "metrics.metrics"})
csrf = CSRFProtect()


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
    app = Flask(
        "idp",
        root_path=str(PACKAGE_DIR),
        instance_path=str(settings.instance_path),
        template_folder=str(resource("templates")),
        static_folder=str(resource("static")),
    )
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
    if settings.rate_limit.trusted_proxies:
        n = settings.rate_limit.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=0)  # type: ignore[method-assign]
    if not settings.secure_transport:
        log.warning(
            "base_url %s is plain http: the session cookie is sent without Secure and "
            "without the __Host- prefix (S23). Use https outside a loopback test set-up.",
            settings.service.base_url,
        )
    app.session_interface = ServerSessionInterface()
    app.before_request(_database_reachable)  # first: before the CSRF check needs the session
    babel.init_app(app, locale_selector=select_locale)
    csrf.init_app(app)
    init_limiter(app)
    register_input_guard(app, NOT_FOR_PEOPLE)
    metrics.init_app(app, settings.metrics.allowed_networks)
    health.init_app(app, settings.rate_limit.storage_url)
    _register_slices(app, services)
    oidc.init_app(app, services, csrf)
    register_error_handlers(app)
    register_template_context(app)
    _register_hooks(app)
    register_cli(app)
    # Outermost first: the provider's public documents answered before Flask (issue
    # 11), then every other response given the security headers (S25).
    app.wsgi_app = SecurityHeaders(app.wsgi_app, hsts=settings.secure_transport)  # type: ignore[method-assign]
    app.wsgi_app = PublishedDocuments(  # type: ignore[method-assign]
        app.wsgi_app, published_documents(app), fixed_headers(settings.secure_transport),
        list(settings.service.trusted_hosts) or None, metrics.observe_latency,
    )
    return app


def _database_reachable() -> None:
    """The session could not be read: the database is down (idp.errors: a 503)."""
    unavailable = current_session().unavailable
    if unavailable is not None:
        raise unavailable


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


def _register_hooks(app: Flask) -> None:
    @app.before_request
    def expired_session_notice() -> ResponseReturnValue | None:
        """J4: the first request after a signed-in session timed out says so."""
        if current_session().expired and request.endpoint not in NOT_FOR_PEOPLE and request.endpoint not in (
            "auth.session_expired", "auth.session_remaining", "auth.choose_language", "static",
        ):
            target = request_target(request.method, request.full_path)
            return redirect(url_for("auth.session_expired", next=target), code=303)
        return None

    @app.after_request
    def send_mail_staged(response: Response) -> Response:
        """Mail staged by the request and committed leaves now (idp.outbox); most
        requests stage none and pay one lookup."""
        if STAGED_KEY in g:
            send_staged()
        return response

    @app.teardown_appcontext
    def teardown(exc: BaseException | None) -> None:
        close_db(exc)

