"""Serving: deployments, their revisions, and the worker pool.

Revision ID: sv0001
Branch labels: serving
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "sv0001"
down_revision = None
branch_labels = ("serving",)
depends_on = None


# The schema as this revision created it, written out: later revisions change it, never this one.
def upgrade() -> None:
    op.create_table(
        "deployment_revisions",
        sa.Column("deployment", sa.String(length=63), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("bundle_uri", sa.String(length=1024), nullable=False),
        sa.Column("bundle_sha256", sa.String(length=64), nullable=False),
        sa.Column("replicas", sa.Integer(), nullable=False),
        sa.Column("memory_bytes", sa.BigInteger(), nullable=False),
        sa.Column("threads", sa.Integer(), nullable=False),
        sa.Column("gpu_share", sa.Float(), nullable=False),
        sa.Column("max_batch_size", sa.Integer(), nullable=False),
        sa.Column("max_queue_delay_us", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("deployment", "number", name=op.f("pk_deployment_revisions")),
    )
    op.create_index(
        "ix_deployment_revisions_model_version", "deployment_revisions", ["model", "version"], unique=False
    )
    op.create_table(
        "deployments",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("pool", sa.String(length=63), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_reason", sa.Text(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_deployments")),
    )
    op.create_table(
        "serving_workers",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("pool", sa.String(length=63), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("memory_bytes", sa.BigInteger(), nullable=False),
        sa.Column("threads", sa.Integer(), nullable=False),
        sa.Column("gpu_capacity", sa.Float(), nullable=False),
        sa.Column("providers", sa.JSON(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_heartbeat", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_serving_workers")),
    )


def downgrade() -> None:
    op.drop_index("ix_deployment_revisions_model_version", table_name="deployment_revisions")
    op.drop_table("serving_workers")
    op.drop_table("deployments")
    op.drop_table("deployment_revisions")
