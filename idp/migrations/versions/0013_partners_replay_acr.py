"""Sign-in partners (J14): the partners' used back-channel logout tokens (replay
memory), and the partner's own acr carried from a sign-in to the ID token (D14).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0013'
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'partner_used_logout_tokens',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('keep_until', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_partner_used_logout_tokens_keep_until', 'partner_used_logout_tokens',
                    ['keep_until'], unique=False)
    with op.batch_alter_table('oauth_codes') as batch:
        batch.add_column(sa.Column('partner_acr', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('oauth_codes') as batch:
        batch.drop_column('partner_acr')
    op.drop_index('ix_partner_used_logout_tokens_keep_until', table_name='partner_used_logout_tokens')
    op.drop_table('partner_used_logout_tokens')
