"""Kernel storage on SQLite and PostgreSQL: migrations, the append-only audit log, URL handling."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError

from mlops.kernel import tables
from mlops.kernel.db import Database, migrate, normalise_url


def _audit_row() -> dict[str, object]:
    return {
        "at": datetime.now(UTC),
        "service": "test",
        "actor": "alice",
        "role": "viewer",
        "action": "Create",
        "resource": "x",
        "outcome": "ok",
        "detail": "",
        "trace_id": "",
    }


async def test_audit_log_is_append_only(kernel_db: Database) -> None:
    async with kernel_db.transaction() as session:
        await session.execute(insert(tables.audit_log).values(**_audit_row()))
    for statement in (update(tables.audit_log).values(actor="mallory"), delete(tables.audit_log)):
        with pytest.raises(DBAPIError, match="append-only"):
            async with kernel_db.transaction() as session:
                await session.execute(statement)
    async with kernel_db.sessions() as session:
        assert await session.scalar(select(tables.audit_log.c.actor)) == "alice"


async def test_migrations_are_idempotent(database_url: str) -> None:
    await asyncio.to_thread(migrate, database_url, None)
    await asyncio.to_thread(migrate, database_url, None)
    db = Database(database_url)
    try:
        async with db.sessions() as session:
            assert await session.scalar(select(func.count()).select_from(tables.outbox)) == 0
    finally:
        await db.dispose()


async def test_concurrent_sqlite_writers_queue_instead_of_failing(sqlite_url: str) -> None:
    await asyncio.to_thread(migrate, sqlite_url, None)
    db = Database(sqlite_url)

    async def write(n: int) -> None:
        async with db.transaction() as session:
            await session.scalar(select(func.count()).select_from(tables.audit_log))
            await session.execute(insert(tables.audit_log).values(**{**_audit_row(), "resource": str(n)}))

    try:
        await asyncio.gather(*(write(n) for n in range(20)))
        async with db.sessions() as session:
            assert await session.scalar(select(func.count()).select_from(tables.audit_log)) == 20
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:////tmp/x.db", "sqlite+aiosqlite:////tmp/x.db"),
        ("postgresql://u@h:5432/d", "postgresql+asyncpg://u@h:5432/d"),
        ("postgres://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("postgresql+asyncpg://u@h/d", "postgresql+asyncpg://u@h/d"),
    ],
)
def test_plain_urls_get_the_async_driver(given: str, expected: str) -> None:
    assert normalise_url(given) == expected
