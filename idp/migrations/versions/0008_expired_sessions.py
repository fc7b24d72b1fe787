"""Timed-out sessions leave a short-lived record, so the person coming back sees
"session expired" even after the worker purged the row (J4).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "expired_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("timeout", sa.String(length=16), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("keep_until", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_expired_sessions_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_expired_sessions")),
    )
    op.create_index(op.f("ix_expired_sessions_account_id"), "expired_sessions", ["account_id"])
    op.create_index(op.f("ix_expired_sessions_keep_until"), "expired_sessions", ["keep_until"])


def downgrade() -> None:
    op.drop_index(op.f("ix_expired_sessions_keep_until"), table_name="expired_sessions")
    op.drop_index(op.f("ix_expired_sessions_account_id"), table_name="expired_sessions")
    op.drop_table("expired_sessions")
