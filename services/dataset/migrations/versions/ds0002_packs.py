"""Dataset: the index of small blobs stored in pack objects.

Revision ID: ds0002
Revises: ds0001
"""

from __future__ import annotations

from alembic import op

from services.dataset.store import tables

revision = "ds0002"
down_revision = "ds0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tables.metadata.create_all(op.get_bind(), tables=tables.PACK_TABLES)


def downgrade() -> None:
    tables.metadata.drop_all(op.get_bind(), tables=tables.PACK_TABLES)
