"""Seeds accounts for the benchmark fast: one argon2 hash and one sealed TOTP secret,
copied into many rows by bulk statements (never through the web).

    python bench/seed.py pool PREFIX COUNT      # flow accounts PREFIX0..: password + TOTP app
    python bench/seed.py filler TOTAL           # PostgreSQL: grow accounts to TOTAL rows

The pool's password and TOTP secret are printed as ``password totp_secret``. Every run
takes a new PREFIX, so each sign-in uses a fresh account (S11 refuses a TOTP step twice).
Configuration comes from ``IDP_CONFIG``, as for the service.
"""

from __future__ import annotations

import base64
import secrets
import sys
from datetime import UTC, datetime

from sqlalchemy import func, insert, select, text

from idp.app import create_app
from idp.models import Account
from idp.usernames import username_key
from mfa.models import SecondFactor
from mfa.runtime import EXTENSION_KEY

PASSWORD = "correct horse battery staple"
BATCH = 5000


def pool(prefix: str, count: int) -> None:
    app = create_app()
    core = app.extensions["clef"]
    secret = base64.b32encode(secrets.token_bytes(20)).decode()
    sealed = app.extensions[EXTENSION_KEY].box.seal(secret)
    password_hash = core.hasher.hash(PASSWORD)
    now = datetime.now(UTC)
    with core.engine.begin() as conn:
        for start in range(0, count, BATCH):
            names = [f"{prefix}{i}" for i in range(start, min(count, start + BATCH))]
            conn.execute(insert(Account), [
                {"username": n, "username_key": username_key(n), "password_hash": password_hash,
                 "email": None, "locale": "en", "status": "active", "created_at": now,
                 "password_changed_at": now, "last_used_at": now} for n in names])
            ids = conn.execute(select(Account.id).where(
                Account.username_key.in_([username_key(n) for n in names]))).scalars().all()
            conn.execute(insert(SecondFactor), [
                {"account_id": i, "kind": "totp", "created_at": now, "totp_secret": sealed}
                for i in ids])
    print(PASSWORD, secret)


def filler(total: int) -> None:
    """Grows ``accounts`` to ``total`` rows in one INSERT ... SELECT generate_series
    (PostgreSQL), sharing one hash; then VACUUM (ANALYZE): the planner knows the size."""
    app = create_app()
    core = app.extensions["clef"]
    password_hash = core.hasher.hash(PASSWORD)
    with core.engine.begin() as conn:
        have = conn.execute(select(func.count()).select_from(Account)).scalar_one()
        if have < total:
            conn.execute(text(
                "INSERT INTO accounts (username, username_key, password_hash, locale, status,"
                " created_at, password_changed_at, last_used_at)"
                " SELECT 'filler' || g, 'filler' || g, :h, 'en', 'active', now(), now(), now()"
                " FROM generate_series(:a, :b) AS g"), {"h": password_hash, "a": have, "b": total - 1})
    # VACUUM as well as ANALYZE: otherwise autovacuum visits the million new rows during
    # the measurement that follows and its CPU lands in the figures.
    with core.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE)"))
    print(f"accounts: {max(have, total)}")


if __name__ == "__main__":
    if sys.argv[1] == "pool":
        pool(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "filler":
        filler(int(sys.argv[2]))
    else:
        sys.exit(__doc__)
