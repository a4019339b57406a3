"""Training: runs with their leases, transitions, metric points, log lines and artifacts.

Revision ID: tr0001
Branch labels: training
"""

from __future__ import annotations

from alembic import op

from services.training.store import tables

revision = "tr0001"
down_revision = None
branch_labels = ("training",)
depends_on = None


def upgrade() -> None:
    tables.metadata.create_all(op.get_bind(), tables=tables.ALL_TABLES)


def downgrade() -> None:
    tables.metadata.drop_all(op.get_bind(), tables=list(reversed(tables.ALL_TABLES)))
