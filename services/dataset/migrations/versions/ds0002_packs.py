"""Dataset: the index of small blobs stored in pack objects.

Revision ID: ds0002
Revises: ds0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ds0002"
down_revision = "ds0001"
branch_labels = None
depends_on = None


# The schema as this revision created it, written out: later revisions change it, never this one.
def upgrade() -> None:
    op.create_table(
        "packed_blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("pack_key", sa.String(length=255), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", "pack_key", name="pk_packed_blobs"),
    )
    op.create_index("ix_packed_blobs_pack_key", "packed_blobs", ["pack_key"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_packed_blobs_pack_key", table_name="packed_blobs")
    op.drop_table("packed_blobs")
