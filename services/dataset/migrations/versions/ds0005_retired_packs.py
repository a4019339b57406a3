"""Dataset: packs rewritten by the collector, kept until download links to them have expired.

Revision ID: ds0005
Revises: ds0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ds0005"
down_revision = "ds0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retired_packs",
        sa.Column("pack_key", sa.String(length=255), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pack_key", name=op.f("pk_retired_packs")),
    )


def downgrade() -> None:
    op.drop_table("retired_packs")
