"""Outbox relays side by side: SKIP LOCKED on PostgreSQL, a lease on SQLite."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from mlops.api.events.v1 import events_pb2
from mlops.kernel.db import Database, migrate_async
from mlops.kernel.events import EventBus, OutboxRelay, record_event
from mlops.kernel.events.leases import acquire_lease
from mlops.kernel.events.relay import LEASE_NAME
from mlops.kernel.events.testing import eventually, stream_count
from mlops.kernel.tables import outbox
from mlops.stack.servers import NatsServer


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[EventBus]:
    bus = EventBus(nats_server.url, name=_unique("test-"))
    await bus.connect(wait=True)
    async with asyncio.timeout(10):
        await bus.wait_ready()
    yield bus
    await bus.close()


async def _record(db: Database, source: str, count: int, per_transaction: int = 1) -> None:
    for _ in range(0, count, per_transaction):
        async with db.transaction() as session:
            for n in range(per_transaction):
                await record_event(session, events_pb2.Ping(note=str(n)), source=source)


async def _pending(db: Database) -> int:
    async with db.transaction() as session:
        query = select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        return int((await session.execute(query)).scalar_one())


async def test_two_relays_on_postgresql_publish_each_event_once(postgres_url: str, bus: EventBus) -> None:
    await migrate_async(postgres_url, None)
    # Two engines stand for two replicas of a service.
    first_db, second_db = Database(postgres_url), Database(postgres_url)
    source = _unique("s")
    await _record(first_db, source, 120, per_transaction=10)
    relays = [
        OutboxRelay(first_db, bus, holder="replica-1", batch_size=5, idle_interval=0.2),
        OutboxRelay(second_db, bus, holder="replica-2", batch_size=5, idle_interval=0.2),
    ]
    try:
        await asyncio.gather(*(relay.start() for relay in relays))
        await eventually(lambda: sum(r.published for r in relays) >= 120, within=30)
        await _record(second_db, source, 30, per_transaction=3)  # woken by the commit hook
        await eventually(lambda: sum(r.published for r in relays) >= 150, within=30)
        await asyncio.sleep(0.5)
        assert sum(r.published for r in relays) == 150
        assert sum(r.duplicates for r in relays) == 0
        assert await _pending(first_db) == 0
        assert await stream_count(bus, f"mlops.events.{source}.>") == 150
    finally:
        for relay in relays:
            await relay.stop()
        await first_db.dispose()
        await second_db.dispose()


async def test_sqlite_relay_waits_for_another_holders_lease(sqlite_url: str, bus: EventBus) -> None:
    await migrate_async(sqlite_url, None)
    db = Database(sqlite_url)
    source = _unique("s")
    async with db.transaction() as session:
        assert await acquire_lease(session, LEASE_NAME, "crashed-relay", seconds=2.0)
    relay = OutboxRelay(db, bus, holder="relay-2", idle_interval=0.2)
    await relay.start()
    try:
        await _record(db, source, 3)
        await asyncio.sleep(1.0)
        assert relay.published == 0
        assert await _pending(db) == 3
        assert not relay.holds_lease
        # The holder stopped renewing: once its lease expires the waiting relay takes over.
        await eventually(lambda: relay.published == 3, within=10)
        assert relay.holds_lease
        assert await _pending(db) == 0
    finally:
        await relay.stop()
        await db.dispose()


async def test_sqlite_relays_take_turns_through_the_lease(sqlite_url: str, bus: EventBus) -> None:
    await migrate_async(sqlite_url, None)
    db = Database(sqlite_url)
    source = _unique("s")
    first = OutboxRelay(db, bus, holder="relay-1", idle_interval=0.2, lease_seconds=3.0)
    second = OutboxRelay(db, bus, holder="relay-2", idle_interval=0.2, lease_seconds=3.0)
    try:
        await first.start()
        await _record(db, source, 5)
        await eventually(lambda: first.published == 5)
        await second.start()
        await _record(db, source, 5)
        await eventually(lambda: first.published == 10)
        await asyncio.sleep(1.5)  # the holder keeps renewing; the other never publishes
        assert second.published == 0
        await first.stop()  # releases the lease
        await _record(db, source, 5)
        await eventually(lambda: second.published == 5, within=10)
        assert await stream_count(bus, f"mlops.events.{source}.>") == 15
    finally:
        await first.stop()
        await second.stop()
        await db.dispose()


async def test_relay_retries_until_nats_acknowledges(
    kernel_db: Database, own_nats_server: NatsServer
) -> None:
    bus = EventBus(own_nats_server.url, name=_unique("test-"), reconnect_time_wait=0.2)
    source = _unique("s")
    own_nats_server.stop()
    await bus.connect()  # returns although NATS is down
    assert not bus.connected
    relay = OutboxRelay(kernel_db, bus, holder="relay-1", idle_interval=0.2)
    await relay.start()
    try:
        await _record(kernel_db, source, 2)
        await asyncio.sleep(0.5)
        assert await _pending(kernel_db) == 2
        own_nats_server.start()
        await eventually(lambda: relay.published == 2, within=20)
        assert await _pending(kernel_db) == 0
        assert await stream_count(bus, f"mlops.events.{source}.>") == 2
    finally:
        await relay.stop()
        await bus.close()


async def test_published_rows_are_pruned_after_retention(kernel_db: Database, bus: EventBus) -> None:
    source = _unique("s")
    relay = OutboxRelay(
        kernel_db, bus, holder="relay-1", idle_interval=0.2, retention_seconds=0.0, prune_interval=0.1
    )
    await relay.start()
    try:
        await _record(kernel_db, source, 2)
        await eventually(lambda: relay.published == 2)

        async def outbox_empty() -> bool:
            async with kernel_db.transaction() as session:
                return (await session.execute(select(func.count()).select_from(outbox))).scalar_one() == 0

        await eventually(outbox_empty)
    finally:
        await relay.stop()


async def test_commit_wakes_an_idle_relay(kernel_db: Database, bus: EventBus) -> None:
    source = _unique("s")
    # Polling alone would take half a minute: only the commit hook can make this quick.
    relay = OutboxRelay(kernel_db, bus, holder="relay-1", idle_interval=30.0, lease_seconds=120.0)
    await relay.start()
    try:
        await asyncio.sleep(0.3)
        await _record(kernel_db, source, 1)
        await eventually(lambda: relay.published == 1, within=2.0)
        # A rolled-back transaction records nothing and wakes nobody.
        with pytest.raises(RuntimeError):
            async with kernel_db.transaction() as session:
                await record_event(session, events_pb2.Ping(), source=source)
                raise RuntimeError("abandoned")
        await asyncio.sleep(0.3)
        assert relay.published == 1
    finally:
        await relay.stop()
