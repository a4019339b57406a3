"""Gateway: API tokens (hashed).

Revision ID: gw0001
Branch labels: gateway
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "gw0001"
down_revision = None
branch_labels = ("gateway",)
depends_on = None


# The schema as this revision created it, written out: later revisions change it, never this one.
def upgrade() -> None:
    op.create_table(
        "tokens",
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_tokens")),
    )
    op.create_index("ix_tokens_role", "tokens", ["role"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_tokens_role", table_name="tokens")
    op.drop_table("tokens")
