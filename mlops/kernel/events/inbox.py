"""The consumers' inbox: event ids already handled, so a redelivered event is skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from mlops.kernel.tables import inbox


async def claim_event(session: AsyncSession, consumer: str, event_id: str) -> bool:
    """Record that `consumer` handles `event_id` in this transaction; False if it already has.

    On PostgreSQL a concurrent claim of the same id waits for the first transaction and then finds
    the row, so two deliveries handled at once still run the handler once.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    result = await session.execute(
        insert(inbox)
        .values(consumer=consumer, event_id=event_id, processed_at=datetime.now(UTC))
        .on_conflict_do_nothing()
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def prune_inbox(session: AsyncSession, consumer: str, retention_seconds: float) -> int:
    """Forget ids older than the retention, which outlasts the stream's max_age (no redelivery left)."""
    cutoff = datetime.now(UTC) - timedelta(seconds=retention_seconds)
    result = await session.execute(
        delete(inbox).where(inbox.c.consumer == consumer, inbox.c.processed_at < cutoff)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
