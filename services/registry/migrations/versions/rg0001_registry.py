"""Registry: models, versions with lineage and cards, aliases, approvals, automation rules, deployments.

Revision ID: rg0001
Branch labels: registry
"""

from __future__ import annotations

from alembic import op

from services.registry.store import tables

revision = "rg0001"
down_revision = None
branch_labels = ("registry",)
depends_on = None


def upgrade() -> None:
    tables.metadata.create_all(op.get_bind(), tables=tables.ALL_TABLES)


def downgrade() -> None:
    tables.metadata.drop_all(op.get_bind(), tables=list(reversed(tables.ALL_TABLES)))
