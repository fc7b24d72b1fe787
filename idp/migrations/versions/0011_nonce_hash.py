"""The nonce replay check becomes an index look-up: each code keeps its nonce's SHA-256,
indexed with the client (issue 11; the nonce itself is unbounded text).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oauth_codes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("nonce_hash", sa.String(length=64), nullable=True))
    # Codes issued before this revision keep being recognised as replays.
    codes = sa.table("oauth_codes", sa.column("code_hash", sa.String),
                     sa.column("nonce", sa.Text), sa.column("nonce_hash", sa.String))
    conn = op.get_bind()
    rows = conn.execute(sa.select(codes.c.code_hash, codes.c.nonce)
                        .where(codes.c.nonce.is_not(None))).all()
    for code_hash, nonce in rows:
        digest = hashlib.sha256(nonce.encode("utf-8", "replace")).hexdigest()
        conn.execute(codes.update().where(codes.c.code_hash == code_hash)
                     .values(nonce_hash=digest))
    op.create_index("ix_oauth_codes_client_nonce", "oauth_codes", ["client_id", "nonce_hash"])


def downgrade() -> None:
    op.drop_index("ix_oauth_codes_client_nonce", table_name="oauth_codes")
    with op.batch_alter_table("oauth_codes", schema=None) as batch_op:
        batch_op.drop_column("nonce_hash")
