"""Dataset: each blob's CRC-32, recorded at upload, so downloads check blobs cheaply.

Revision ID: ds0004
Revises: ds0003

Blobs stored before this revision have no row; downloads check those against their SHA-256.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ds0004"
down_revision = "ds0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blob_checksums",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("crc32", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_blob_checksums")),
    )


def downgrade() -> None:
    op.drop_table("blob_checksums")
