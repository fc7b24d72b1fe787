"""``clef mfa ...``: the encryption keys of TOTP secrets (S11)."""

from __future__ import annotations

import click

from idp.runtime import db
from mfa import bp
from mfa.runtime import mfa_services
from mfa.secret_box import SecretUnreadable, new_key


@bp.cli.command("new-key")
def new_key_command() -> None:
    """Print a fresh key for mfa.secret_keys (put it first to encrypt with it)."""
    click.echo(new_key())


@bp.cli.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt every TOTP secret under the first key of mfa.secret_keys; after it,
    older keys can be dropped from the configuration."""
    try:
        count = mfa_services().factors.reseal_all(db())
    except SecretUnreadable as error:
        db().rollback()
        raise click.ClickException(
            "a secret could not be opened with any configured key; nothing was changed"
        ) from error
    db().commit()
    click.echo(f"re-encrypted {count} TOTP secret(s) under the first key")
