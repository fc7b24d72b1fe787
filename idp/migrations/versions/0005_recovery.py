"""Recovery slice: security questions, the limit on wrong answers, the newest
forgot-password flow of each username (J2, J7, D1, S6).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('recovery_questions',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('question', sa.String(length=200), nullable=False),
    sa.Column('answer_hash', sa.String(length=255), nullable=False),
    sa.Column('person_hint', sa.String(length=200), nullable=False),
    sa.Column('person_hash', sa.String(length=255), nullable=False),
    sa.Column('date_hint', sa.String(length=200), nullable=False),
    sa.Column('date_hash', sa.String(length=255), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_recovery_questions_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_recovery_questions'))
    )
    op.create_table('recovery_answer_limits',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('blocked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_recovery_answer_limits'))
    )
    with op.batch_alter_table('recovery_answer_limits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_answer_limits_updated_at'), ['updated_at'], unique=False)

    op.create_table('recovery_reset_flows',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_recovery_reset_flows'))
    )
    with op.batch_alter_table('recovery_reset_flows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_reset_flows_started_at'), ['started_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('recovery_reset_flows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_reset_flows_started_at'))
    op.drop_table('recovery_reset_flows')
    with op.batch_alter_table('recovery_answer_limits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_answer_limits_updated_at'))
    op.drop_table('recovery_answer_limits')
    op.drop_table('recovery_questions')
