"""``clef partners``: the sign-in partners an administrator registers (J14)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import click
from flask import Flask
from flask.cli import AppGroup

from idp import audit
from idp.cli_support import admin_actor, shown
from idp.oidc.clients import ClientRefused, verify_uri
from idp.runtime import db, services
from partners.logo import MAX_LENGTH as LOGO_TEXT_LENGTH
from partners.logo import LogoTextRefused
from partners.models import Partner
from partners.registry import redirect_uri
from partners.runtime import PartnerServices, partner_services

# One acr value: what the ID token's partner_acr and the code's column can hold (D14).
ACR_VALUE = re.compile(r"[\x21-\x7e]{1,64}")
MAX_ACR_VALUES = 255  # the partners table's acr column
group = AppGroup("partners", help="Sign-in partners: upstream OpenID Connect providers.")


def _svc() -> PartnerServices:
    return partner_services()


def _partner(partner_id: int) -> Partner:
    found = _svc().partners.get(db(), partner_id)
    if found is None:
        raise click.ClickException(f"no partner {partner_id}")
    return found


def _print(partner: Partner) -> None:
    click.echo(f"partner_id     {partner.id}")
    click.echo(f"name           {partner.name}")
    click.echo(f"issuer         {partner.issuer}")
    click.echo(f"client_id      {partner.client_id}")
    click.echo(f"scope          {partner.scope}")
    click.echo(f"acr            {shown(partner.acr)}")
    click.echo(f"logo_text      {shown(partner.logo_text)}")
    click.echo(f"enabled        {'yes' if partner.enabled else 'no'}")
    click.echo(f"redirect_uri   {redirect_uri(services().settings.service.base_url, partner.id)}")


@group.command("add")
@click.option("--name", required=True)
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@click.option("--scope", default="openid", show_default=True)
@click.option("--acr", "acr", multiple=True, metavar="VALUE",
              help="An acr the partner vouches for (repeatable): asked of it as acr_values, "
                   "and passed on to portals as partner_acr when the partner returns it (D14).")
@click.option("--logo-text", default=None, metavar="TEXT",
              help=f"The partner's mark shown beside its name on the partner list (a brand, "
                   f"not translated; at most {LOGO_TEXT_LENGTH} characters, plain text).")
def add(name: str, issuer: str, client_id: str, scope: str, acr: tuple[str, ...],
        logo_text: str | None) -> None:
    """Register a partner; prints the redirect URI to register at the partner.

    The client secret the partner issued is read from standard input (a hidden prompt
    at a terminal), never from an option: S5, no option of the admin CLI takes a
    secret, which would land in the shell history and the process list."""
    client_secret = click.prompt("Client secret issued by the partner", hide_input=True,
                                 err=True).strip()
    if not client_secret:
        raise click.ClickException("the client secret is empty")
    try:  # OIDC Discovery §2: https (plain http on a loopback host only), no query
        verify_uri(issuer, "the issuer")
    except ClientRefused as error:
        raise click.ClickException(str(error)) from error
    if urlsplit(issuer).query:
        raise click.ClickException("the issuer must not have a query")
    for value in acr:
        if not ACR_VALUE.fullmatch(value):
            raise click.ClickException("each --acr is 1 to 64 visible characters, no spaces")
    acr_values = " ".join(dict.fromkeys(acr)) or None
    if acr_values is not None and len(acr_values) > MAX_ACR_VALUES:
        raise click.ClickException(f"the --acr values take at most {MAX_ACR_VALUES} characters")
    now = services().clock.now()
    try:
        partner = _svc().partners.add(db(), now, name=name, issuer=issuer, client_id=client_id,
                                      client_secret=client_secret, scope=scope, acr=acr_values,
                                      logo_text=logo_text)
    except LogoTextRefused as refused:
        db().rollback()
        raise click.ClickException(f"--logo-text: {refused}") from refused
    audit.record(db(), now, "admin:partner:added", actor=admin_actor(), partner=name)
    db().commit()
    _print(partner)


@group.command("list")
def list_partners() -> None:
    for partner in _svc().partners.all(db()):
        state = "enabled" if partner.enabled else "disabled"
        click.echo(f"{partner.id}\t{partner.name}\t{partner.issuer}\t{state}\t"
                   f"{shown(partner.logo_text)}")


@group.command("show")
@click.argument("partner_id", type=int)
def show(partner_id: int) -> None:
    _print(_partner(partner_id))


@group.command("set-logo-text")
@click.argument("partner_id", type=int)
@click.argument("logo_text", required=False)
@click.option("--clear", is_flag=True, help="Show the partner by its name alone.")
def set_logo_text(partner_id: int, logo_text: str | None, clear: bool) -> None:
    """Change the mark shown beside the partner's name on the partner list."""
    if clear == (logo_text is not None):
        raise click.ClickException("give either the logo text or --clear")
    partner = _partner(partner_id)
    try:
        _svc().partners.set_logo_text(db(), partner, logo_text)
    except LogoTextRefused as refused:
        db().rollback()
        raise click.ClickException(str(refused)) from refused
    audit.record(db(), services().clock.now(), "admin:partner:logo_text_changed",
                 actor=admin_actor(), partner=partner.name)
    db().commit()
    click.echo(f"logo_text      {shown(partner.logo_text)}")


@group.command("disable")
@click.argument("partner_id", type=int)
def disable(partner_id: int) -> None:
    """No new sign-ins through this partner; links are kept."""
    partner = _partner(partner_id)
    partner.enabled = False
    audit.record(db(), services().clock.now(), "admin:partner:disabled", actor=admin_actor(),
                 partner=partner.name)
    db().commit()
    click.echo(f"disabled {partner.name}")


@group.command("remove")
@click.argument("partner_id", type=int)
def remove(partner_id: int) -> None:
    """Forget the partner; its people must change partner or register again."""
    partner = _partner(partner_id)
    name = partner.name
    db().delete(partner)
    audit.record(db(), services().clock.now(), "admin:partner:removed", actor=admin_actor(),
                 partner=name)
    db().commit()
    click.echo(f"removed {name}")


def register(app: Flask) -> None:
    app.cli.add_command(group)
