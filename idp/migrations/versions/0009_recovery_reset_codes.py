"""Forgot password's code lives with the newest flow of each username (S6, S16): the
same row, code and counts for every username typed, existing or not.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: str | Sequence[str] | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('recovery_reset_flows', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('code_sent_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('code_tries', sa.Integer(), nullable=False,
                                      server_default='0'))
    # Reset codes issued before this revision lived in the core's table; they are dead
    # now (a flow in progress asks for a new code).
    op.execute("DELETE FROM email_codes WHERE purpose = 'password_reset'")


def downgrade() -> None:
    with op.batch_alter_table('recovery_reset_flows', schema=None) as batch_op:
        batch_op.drop_column('code_tries')
        batch_op.drop_column('code_sent_at')
        batch_op.drop_column('code_hash')
