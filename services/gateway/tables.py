"""The gateway's own table. The kernel's tables (audit log among them) come from the kernel branch."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, MetaData, String, Table, Text

from mlops.kernel.tables import NAMING_CONVENTION

metadata = MetaData(naming_convention=NAMING_CONVENTION)

tokens = Table(
    "tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("subject", String(255), nullable=False),
    Column("role", String(64), nullable=False),
    Column("description", Text, nullable=False),
    # SHA-256 hex of the whole token; the token itself is never stored.
    Column("hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)
Index("ix_tokens_role", tokens.c.role)
