"""Serving: deployments, their revisions, and the worker pool.

Revision ID: sv0001
Branch labels: serving
"""

from __future__ import annotations

from alembic import op

from services.serving.store import tables

revision = "sv0001"
down_revision = None
branch_labels = ("serving",)
depends_on = None


def upgrade() -> None:
    tables.metadata.create_all(op.get_bind(), tables=tables.ALL_TABLES)


def downgrade() -> None:
    tables.metadata.drop_all(op.get_bind(), tables=list(reversed(tables.ALL_TABLES)))
