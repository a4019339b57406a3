"""The serving service's own tables. The kernel's (outbox, inbox, audit log) come from its branch.

A deployment's mutable state (traffic policy, replicas, observed traffic) is one JSON document, read
and written whole under the service's lock; revisions are rows of their own, immutable, with the model
version each serves as columns, so lineage queries ("which revisions serve model m v3") need no JSON.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
)
from sqlalchemy import Table as _Table

from mlops.kernel.tables import NAMING_CONVENTION

metadata = MetaData(naming_convention=NAMING_CONVENTION)

deployments = _Table(
    "deployments",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("pool", String(63), nullable=False),
    Column("owner", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("stopped_reason", Text, nullable=False),
    Column("body", JSON, nullable=False),
)

revisions = _Table(
    "deployment_revisions",
    metadata,
    Column("deployment", String(63), nullable=False),
    Column("number", Integer, nullable=False),
    Column("model", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("bundle_uri", String(1024), nullable=False),
    Column("bundle_sha256", String(64), nullable=False),
    Column("replicas", Integer, nullable=False),
    Column("memory_bytes", BigInteger, nullable=False),
    Column("threads", Integer, nullable=False),
    Column("gpu_share", Float, nullable=False),
    Column("max_batch_size", Integer, nullable=False),
    Column("max_queue_delay_us", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("reason", Text, nullable=False),
    PrimaryKeyConstraint("deployment", "number"),
    Index("ix_deployment_revisions_model_version", "model", "version"),
)

workers = _Table(
    "serving_workers",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("pool", String(63), nullable=False),
    Column("address", String(255), nullable=False),
    Column("memory_bytes", BigInteger, nullable=False),
    Column("threads", Integer, nullable=False),
    Column("gpu_capacity", Float, nullable=False),
    Column("providers", JSON, nullable=False),
    Column("registered_at", DateTime(timezone=True), nullable=False),
    Column("last_heartbeat", DateTime(timezone=True), nullable=True),
)

ALL_TABLES = [deployments, revisions, workers]
