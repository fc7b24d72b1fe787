"""S35: a nonce once per portal, held by the database. The replay check
(``exists_nonce``) reads before the code is written, so two answers to one authorization
request at the same instant (two tabs' consent posts) could both pass it; a unique index
on the client and the nonce's hash lets only one code be written. Codes that already
share a nonce (only such a race could make them) keep it on the oldest row.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0015'
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE oauth_codes SET nonce_hash = NULL WHERE nonce_hash IS NOT NULL AND EXISTS ("
        " SELECT 1 FROM oauth_codes AS older WHERE older.client_id = oauth_codes.client_id"
        " AND older.nonce_hash = oauth_codes.nonce_hash"
        " AND (older.created_at < oauth_codes.created_at OR (older.created_at ="
        " oauth_codes.created_at AND older.code_hash < oauth_codes.code_hash)))")
    op.drop_index("ix_oauth_codes_client_nonce", table_name="oauth_codes")
    op.create_index("ux_oauth_codes_client_nonce", "oauth_codes", ["client_id", "nonce_hash"],
                    unique=True)


def downgrade() -> None:
    op.drop_index("ux_oauth_codes_client_nonce", table_name="oauth_codes")
    op.create_index("ix_oauth_codes_client_nonce", "oauth_codes", ["client_id", "nonce_hash"])
