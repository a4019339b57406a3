"""Tables the kernel keeps in every service's database: outbox, inbox, audit log and leases.

Their schema is created by the kernel's own Alembic branch (mlops/kernel/migrations), which every
service's migration environment includes.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT autoincrement on PostgreSQL, INTEGER PRIMARY KEY (rowid) on SQLite.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# Events written in the same transaction as the change they describe; the relay publishes them.
outbox = Table(
    "kernel_outbox",
    metadata,
    Column("seq", BigIntPK, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("subject", String(255), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
)
Index("ix_kernel_outbox_pending", outbox.c.published_at, outbox.c.seq)

# Event ids a durable consumer has handled, so a redelivered event is handled once.
inbox = Table(
    "kernel_inbox",
    metadata,
    Column("consumer", String(128), primary_key=True),
    Column("event_id", String(64), primary_key=True),
    Column("processed_at", DateTime(timezone=True), nullable=False),
)
Index("ix_kernel_inbox_processed_at", inbox.c.processed_at)

# Append-only: database triggers refuse UPDATE and DELETE.
audit_log = Table(
    "kernel_audit_log",
    metadata,
    Column("seq", BigIntPK, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("service", String(64), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("role", String(64), nullable=False),
    Column("action", String(255), nullable=False),
    Column("resource", String(512), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("trace_id", String(32), nullable=False),
)
Index("ix_kernel_audit_log_at", audit_log.c.at)

# Named leases (for example the SQLite outbox relay's): one holder until it expires.
leases = Table(
    "kernel_leases",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
