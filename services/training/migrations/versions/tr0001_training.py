"""Training: runs with their leases, transitions, metric points, log lines and artifacts.

Revision ID: tr0001
Branch labels: training
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "tr0001"
down_revision = None
branch_labels = ("training",)
depends_on = None


# The schema as this revision created it, written out: later revisions change it, never this one.
def upgrade() -> None:
    op.create_table(
        "training_artifacts",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "name", name=op.f("pk_training_artifacts")),
    )
    op.create_table(
        "training_log_lines",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stream", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "seq", name=op.f("pk_training_log_lines")),
    )
    op.create_table(
        "training_metric_points",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_training_metric_points_series", "training_metric_points", ["run_id", "key", "step"], unique=False
    )
    op.create_table(
        "training_run_transitions",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "seq", name=op.f("pk_training_run_transitions")),
    )
    op.create_table(
        "training_runs",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("dataset_id", sa.String(length=64), nullable=False),
        sa.Column("dataset_version", sa.Integer(), nullable=False),
        sa.Column("manifest_digest", sa.String(length=64), nullable=False),
        sa.Column("algorithm_id", sa.String(length=64), nullable=False),
        sa.Column("algorithm_version", sa.String(length=32), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("defaulted_parameters", sa.JSON(), nullable=False),
        sa.Column("preset", sa.String(length=64), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("pool", sa.String(length=16), nullable=False),
        sa.Column("code_version", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("request_digest", sa.String(length=64), nullable=False),
        sa.Column("inputs_digest", sa.String(length=64), nullable=False),
        sa.Column("summary_metrics", sa.JSON(), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=False),
        sa.Column("retry_of", sa.String(length=32), nullable=False),
        sa.Column("reproduction_of", sa.String(length=32), nullable=False),
        sa.Column("reproduction_matches", sa.Boolean(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_holder", sa.String(length=255), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_training_runs")),
        sa.UniqueConstraint("owner", "idempotency_key", name="uq_training_runs_owner_idempotency_key"),
    )
    op.create_index("ix_training_runs_created", "training_runs", ["created_at"], unique=False)
    op.create_index("ix_training_runs_inputs", "training_runs", ["inputs_digest", "status"], unique=False)
    op.create_index("ix_training_runs_owner", "training_runs", ["owner", "status"], unique=False)
    op.create_index("ix_training_runs_status", "training_runs", ["status", "pool"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_training_runs_status", table_name="training_runs")
    op.drop_index("ix_training_runs_owner", table_name="training_runs")
    op.drop_index("ix_training_runs_inputs", table_name="training_runs")
    op.drop_index("ix_training_runs_created", table_name="training_runs")
    op.drop_index("ix_training_metric_points_series", table_name="training_metric_points")
    op.drop_table("training_runs")
    op.drop_table("training_run_transitions")
    op.drop_table("training_metric_points")
    op.drop_table("training_log_lines")
    op.drop_table("training_artifacts")
