"""``clef clients``, ``clef keys`` and ``clef oidc``: portals, signing keys, and the
worker that ends expired sessions and delivers back-channel logouts."""

from __future__ import annotations

import logging
import signal
import threading

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import func, select

from idp import audit
from idp.cli_support import admin_actor, shown
from idp.errors import service_unavailable
from idp.oidc.backchannel import Backchannel
from idp.oidc.clients import ClientRefused
from idp.oidc.keys import ALGORITHMS
from idp.oidc.models import PAIRWISE, PUBLIC, LogoutDelivery, OAuthClient, SigningKey
from idp.oidc.runtime import oidc
from idp.runtime import db, services

log = logging.getLogger("clef.oidc.worker")
clients = AppGroup("clients", help="Portals that sign people in with Clef.")
keys_group = AppGroup("keys", help="Keys that sign ID tokens.")
oidc_group = AppGroup("oidc", help="Back-channel logout and expired sessions.")


def _client(client_id: str) -> OAuthClient:
    found = oidc().clients.get(db(), client_id)
    if found is None:
        raise click.ClickException(f"no client {client_id!r}")
    return found


@clients.command("add")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True)
@click.option("--post-logout-redirect-uri", "logout_uris", multiple=True)
@click.option("--backchannel-logout-uri", default=None)
@click.option("--public", is_flag=True, help="No secret (a browser or mobile app): PKCE only.")
@click.option("--trusted", is_flag=True, help="Skip the consent screen.")
@click.option("--subject", type=click.Choice([PAIRWISE, PUBLIC]), default=PAIRWISE,
              show_default=True, help="pairwise per sector (S45) or one public identifier")
@click.option("--sector", default=None, help="Pairwise sector (default: the redirect host).")
@click.option("--alg", type=click.Choice(list(ALGORITHMS)), default="RS256", show_default=True)
@click.option("--pkce", type=click.Choice(["required", "optional"]), default="required",
              show_default=True,
              help="D8: optional only for a legacy confidential portal that cannot send PKCE.")
def clients_add(name: str, redirect_uris: tuple[str, ...], logout_uris: tuple[str, ...],
                backchannel_logout_uri: str | None, public: bool, trusted: bool, subject: str,
                sector: str | None, alg: str, pkce: str) -> None:
    """Register a portal; prints its client id and (once) its secret."""
    try:
        made = oidc().clients.add(
            db(), services().clock.now(), name=name, redirect_uris=list(redirect_uris),
            post_logout_redirect_uris=list(logout_uris), public=public, trusted=trusted,
            subject_type=subject, sector=sector, backchannel_logout_uri=backchannel_logout_uri,
            id_token_alg=alg, pkce_required=pkce == "required",
        )
    except ClientRefused as refused:
        raise click.ClickException(str(refused)) from refused
    audit.record(db(), services().clock.now(), audit.ADMIN_CLIENT_ADD, actor=admin_actor(),
                 client=made.client.client_id, pkce=pkce)
    db().commit()
    click.echo(f"client_id      {made.client.client_id}")
    if made.secret:
        click.echo(f"client_secret  {made.secret}")
        click.echo("The secret is shown once; Clef keeps only a hash of it.")


@clients.command("list")
def clients_list() -> None:
    for client in oidc().clients.all(db()):
        kind = "public" if client.public else "confidential"
        pkce = "pkce" if client.pkce_required else "pkce-optional"
        click.echo(f"{client.client_id}\t{client.name}\t{kind}\t{client.subject_type}\t{pkce}")


@clients.command("show")
@click.argument("client_id")
def clients_show(client_id: str) -> None:
    client = _client(client_id)
    rows = {
        "client_id": client.client_id, "name": client.name,
        "type": "public" if client.public else "confidential",
        "trusted": "yes (no consent screen)" if client.trusted else "no",
        "pkce": "required (S256)" if client.pkce_required
        else "optional (legacy portal, D8 opt-out)",
        "subject": f"{client.subject_type} (sector {client.sector})",
        "id token alg": client.id_token_alg,
        "redirect uris": " ".join(client.redirect_uris),
        "logout uris": " ".join(client.post_logout_redirect_uris) or "-",
        "back-channel": shown(client.backchannel_logout_uri),
        "created": client.created_at,
    }
    for key, value in rows.items():
        click.echo(f"{key:14} {value}")


@clients.command("rotate-secret")
@click.argument("client_id")
def clients_rotate_secret(client_id: str) -> None:
    """A new secret, printed once; the old one stops working at once."""
    client = _client(client_id)
    try:
        secret = oidc().clients.rotate_secret(client)
    except ClientRefused as refused:
        raise click.ClickException(str(refused)) from refused
    audit.record(db(), services().clock.now(), audit.ADMIN_CLIENT_SECRET, actor=admin_actor(),
                 client=client.client_id)
    db().commit()
    click.echo(f"client_secret  {secret}")


@clients.command("remove")
@click.argument("client_id")
def clients_remove(client_id: str) -> None:
    client = _client(client_id)
    oidc().clients.remove(db(), client)
    audit.record(db(), services().clock.now(), audit.ADMIN_CLIENT_REMOVE, actor=admin_actor(),
                 client=client_id)
    db().commit()
    click.echo(f"removed {client_id}")


@keys_group.command("rotate")
def keys_rotate() -> None:
    """Publish the next signing keys now; they sign after oidc.key_publish_lead_minutes,
    and the current ones stay published until their last token has expired (S42)."""
    now = services().clock.now()
    oidc().signing_keys.ensure(db(), now)
    made = oidc().signing_keys.rotate(db(), now)
    audit.record(db(), now, audit.ADMIN_KEYS_ROTATE, actor=admin_actor(), kids=[k.kid for k in made])
    db().commit()
    for key in made:
        click.echo(f"{key.kid}\t{key.alg}\tsigns from {key.active_from}")


@keys_group.command("list")
def keys_list() -> None:
    for key in db().scalars(select(SigningKey).order_by(SigningKey.created_at)):
        click.echo(f"{key.kid}\t{key.alg}\tactive from {key.active_from}\t"
                   f"published until {shown(key.remove_after)}")


def _backchannel() -> Backchannel:
    return oidc().backchannel


def run_once() -> tuple[int, int]:
    """End expired sessions (telling their portals), send what is due (back-channel
    logouts, then mail that could not leave at once, idp.outbox), and drop codes,
    tokens, sign-in counts and the slices' rows (``add_purger``) that can no longer
    matter."""
    svc = services()
    expired = svc.sessions.purge_expired(db(), svc.clock.now())
    oidc().tokens.purge(db(), svc.clock.now())
    svc.throttle.purge(db(), svc.clock.now())
    svc.purge_slices(db(), svc.clock.now())
    db().commit()
    delivered = _backchannel().deliver_due(db())
    svc.outbox.deliver_due(db())
    return expired, delivered


@oidc_group.command("deliver")
def oidc_deliver() -> None:
    """One pass: expired sessions ended, due back-channel logouts and mail sent."""
    expired, delivered = run_once()
    waiting = db().scalar(select(func.count()).where(
        LogoutDelivery.delivered_at.is_(None), LogoutDelivery.given_up_at.is_(None)))
    mail_waiting = services().outbox.waiting(db())
    click.echo(f"{expired} expired session(s) ended, {delivered} logout(s) delivered, "
               f"{waiting} waiting; {mail_waiting} mail(s) waiting")


@oidc_group.command("worker")
@click.option("--every", default=5.0, show_default=True, help="Seconds between passes.")
def oidc_worker(every: float) -> None:
    """Run `deliver` forever beside the web service. Ctrl-C or SIGTERM (honcho, systemd,
    a container stop) ends it between two passes; each delivery is committed as it goes."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    click.echo(f"back-channel logout worker: a pass every {every} s")
    while not stop.is_set():
        try:
            run_once()
        except Exception as error:
            if not service_unavailable(error):
                raise
            # The database is restarting or unreachable: try again next pass, on a new
            # connection, rather than stop the worker (issue 9, faults).
            log.warning("worker pass skipped: database unavailable (%s)", type(error).__name__)
        finally:
            db().close()
        stop.wait(every)
    click.echo("worker stopped")


def register(app: Flask) -> None:
    for group in (clients, keys_group, oidc_group):
        app.cli.add_command(group)
