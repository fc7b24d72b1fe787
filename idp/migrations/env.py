"""Alembic environment: the URL comes from ``idp.migrate`` (or alembic.ini's caller)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

# One database holds every slice's tables, so the migration environment is the one
# place besides the app factory that sees the slices' models (tests/test_architecture.py).
import idp.models
import idp.oidc.models  # noqa: F401 - the provider's tables
import mfa.models  # noqa: F401 - the second factors' tables
import partners.models  # noqa: F401 - the sign-in partners' tables
import recovery.models  # noqa: F401 - the recovery slice's tables
from idp.db import Base

config = context.config
target_metadata = Base.metadata


def run_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connectable = engine_from_config(config.get_section(config.config_ini_section, {}),
                                     prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
