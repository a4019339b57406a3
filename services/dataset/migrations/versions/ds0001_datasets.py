"""Dataset: datasets, draft samples, versions with their entries and users, blob reservations.

Revision ID: ds0001
Branch labels: dataset
"""

from __future__ import annotations

from alembic import op

from services.dataset.store import tables

revision = "ds0001"
down_revision = None
branch_labels = ("dataset",)
depends_on = None


def upgrade() -> None:
    tables.metadata.create_all(op.get_bind(), tables=tables.ALL_TABLES)


def downgrade() -> None:
    tables.metadata.drop_all(op.get_bind(), tables=list(reversed(tables.ALL_TABLES)))
