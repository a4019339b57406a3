"""Gateway: API tokens (hashed).

Revision ID: gw0001
Branch labels: gateway
"""

from __future__ import annotations

from alembic import op

from services.gateway import tables

revision = "gw0001"
down_revision = None
branch_labels = ("gateway",)
depends_on = None


def upgrade() -> None:
    tables.metadata.create_all(op.get_bind(), tables=[tables.tokens])


def downgrade() -> None:
    tables.metadata.drop_all(op.get_bind(), tables=[tables.tokens])
