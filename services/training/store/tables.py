"""The training service's own tables. The kernel's (outbox, inbox, audit log, leases) come from its branch.

A run's lease lives on its row (holder, expiry): the worker that claimed the run renews it with every
progress report, and the watchdog fails running runs whose lease ran out ("worker lost").
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from mlops.kernel.tables import NAMING_CONVENTION

metadata = MetaData(naming_convention=NAMING_CONVENTION)

runs = Table(
    "training_runs",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("owner", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("dataset_id", String(64), nullable=False),
    Column("dataset_version", Integer, nullable=False),
    Column("manifest_digest", String(64), nullable=False),
    Column("algorithm_id", String(64), nullable=False),
    Column("algorithm_version", String(32), nullable=False),
    Column("parameters", JSON, nullable=False),
    Column("defaulted_parameters", JSON, nullable=False),
    Column("preset", String(64), nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("pool", String(16), nullable=False),
    Column("code_version", JSON, nullable=False),
    # NULL when the request carried none: NULLs never collide in the unique constraint.
    Column("idempotency_key", String(128), nullable=True),
    Column("request_digest", String(64), nullable=False),
    Column("inputs_digest", String(64), nullable=False),
    Column("summary_metrics", JSON, nullable=False),
    Column("failure_reason", Text, nullable=False),
    Column("retry_of", String(32), nullable=False),
    Column("reproduction_of", String(32), nullable=False),
    Column("reproduction_matches", Boolean, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # When the Celery task was sent; NULL means it still has to be (the broker was down).
    Column("dispatched_at", DateTime(timezone=True), nullable=True),
    Column("lease_holder", String(255), nullable=True),
    Column("lease_expires_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("owner", "idempotency_key", name="uq_training_runs_owner_idempotency_key"),
)
Index("ix_training_runs_status", runs.c.status, runs.c.pool)
Index("ix_training_runs_owner", runs.c.owner, runs.c.status)
Index("ix_training_runs_inputs", runs.c.inputs_digest, runs.c.status)
Index("ix_training_runs_created", runs.c.created_at)

transitions = Table(
    "training_run_transitions",
    metadata,
    Column("run_id", String(32), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("reason", Text, nullable=False),
    PrimaryKeyConstraint("run_id", "seq"),
)

# Points arrive in batches and are only appended; no key, so a batch is one COPY or executemany.
metric_points = Table(
    "training_metric_points",
    metadata,
    Column("run_id", String(32), nullable=False),
    Column("key", String(128), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("value", Double, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)
Index("ix_training_metric_points_series", metric_points.c.run_id, metric_points.c.key, metric_points.c.step)

log_lines = Table(
    "training_log_lines",
    metadata,
    Column("run_id", String(32), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("stream", String(16), nullable=False),
    Column("text", Text, nullable=False),
    PrimaryKeyConstraint("run_id", "seq"),
)

artifacts = Table(
    "training_artifacts",
    metadata,
    Column("run_id", String(32), nullable=False),
    Column("name", String(255), nullable=False),
    Column("uri", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("media_type", String(128), nullable=False),
    PrimaryKeyConstraint("run_id", "name"),
)

ALL_TABLES = [runs, transitions, metric_points, log_lines, artifacts]
