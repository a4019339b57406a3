"""SQLAlchemy 2 async storage: one engine per process, SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

KERNEL_MIGRATIONS = Path(__file__).parent / "migrations"


def normalise_url(url: str) -> str:
    """Accept plain `sqlite:///` and `postgresql://` URLs and pick the async driver."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


def _configure_sqlite(engine: AsyncEngine) -> None:
    # SQLite upgrades a deferred transaction's read lock to a write lock without waiting for a busy
    # writer, failing at once; starting every transaction IMMEDIATE makes writers queue on the busy
    # timeout instead.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """An async engine and its session factory."""

    def __init__(self, url: str, *, pool_size: int = 5, echo: bool = False) -> None:
        self.url = normalise_url(url)
        if self.url.startswith("sqlite"):
            Path(self.url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_async_engine(self.url, echo=echo)
            _configure_sqlite(self.engine)
        else:
            self.engine = create_async_engine(
                self.url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits when the block ends and rolls back if it raises."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        """Run a block in one process at a time across every replica sharing this database.

        For start-up work that checks and then writes outside a single transaction (bootstrap
        records). On PostgreSQL a session-level advisory lock named `name`; an SQLite file belongs to
        one process, usually: there a lock on a file beside it.
        """
        if self.is_sqlite:
            async with _file_lock(Path(f"{self.url.split('///', 1)[1]}.{name}.lock")):
                yield
            return
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT pg_advisory_lock(hashtext(:name))"), {"name": name})
            try:
                yield
            finally:
                await connection.execute(text("SELECT pg_advisory_unlock(hashtext(:name))"), {"name": name})

    async def dispose(self) -> None:
        await self.engine.dispose()


@asynccontextmanager
async def _file_lock(path: Path) -> AsyncIterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


async def serialise_transaction(session: AsyncSession, name: str) -> None:
    """Make transactions that check and then insert (limits, uniqueness no index can express) take turns.

    READ COMMITTED on PostgreSQL lets two such transactions both pass the check; a transaction-level
    advisory lock named `name` queues them. SQLite transactions begin IMMEDIATE and queue already.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})


def alembic_config(url: str, service_versions: Path | None, metadata: MetaData | None = None) -> Config:
    """The kernel's branch plus the service's own versions, against one database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(KERNEL_MIGRATIONS))
    locations = [str(KERNEL_MIGRATIONS / "versions")]
    if service_versions is not None:
        locations.append(str(service_versions))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", ":".join(locations))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    cfg.attributes["target_metadata"] = metadata
    return cfg


def migrate(url: str, service_versions: Path | None, metadata: MetaData | None = None) -> None:
    """Upgrade a database to the newest revision of every branch. Blocking: call off the event loop."""
    command.upgrade(alembic_config(url, service_versions, metadata), "heads")


async def migrate_async(url: str, service_versions: Path | None, metadata: MetaData | None = None) -> None:
    # The migration environment runs its own event loop, so it needs a thread without one.
    await asyncio.to_thread(migrate, url, service_versions, metadata)
