"""D8: PKCE for every client; a per-client opt-out for legacy confidential portals.
S32: when a code's reuse was seen, so a racing first use revokes its own tokens.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing portals are held to D8 too: the opt-out is an administrator's decision.
    with op.batch_alter_table('oauth_clients') as batch:
        batch.add_column(sa.Column('pkce_required', sa.Boolean(), nullable=False,
                                   server_default=sa.true()))
    with op.batch_alter_table('oauth_codes') as batch:
        batch.add_column(sa.Column('reused_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('oauth_codes') as batch:
        batch.drop_column('reused_at')
    with op.batch_alter_table('oauth_clients') as batch:
        batch.drop_column('pkce_required')
