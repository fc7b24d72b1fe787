"""Mail in the person's language from ``templates/email/<message>/`` (subject.txt and
body.txt), with links built from the configured base URL, never the Host header (S17)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from flask import current_app
from flask_babel import force_locale

from idp.mail import OutgoingMail
from idp.runtime import services


def absolute_link(path: str) -> str:
    """``path`` on the configured public URL (S17)."""
    return urljoin(services().settings.service.base_url.rstrip("/") + "/", path.lstrip("/"))


def render_mail(message: str, locale: str, to: str, **context: Any) -> OutgoingMail:
    settings = services().settings
    context.setdefault("service_name", settings.service.name)
    context.setdefault("base_url", settings.service.base_url)
    # The templates get only this context, not the page context processors: a mail is
    # the same whether a request (and whose Host header) or the CLI's sweep sends it (S17).
    env = current_app.jinja_env
    with force_locale(locale):
        subject = env.get_template(f"email/{message}/subject.txt").render(**context).strip()
        text = env.get_template(f"email/{message}/body.txt").render(**context)
    return OutgoingMail(to=to, subject=subject, text=text)


def send_mail(message: str, locale: str, to: str, **context: Any) -> None:
    svc = services()
    svc.mailer.send(render_mail(message, locale, to, **context), svc.clock.now())
