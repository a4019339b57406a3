"""End to end: outbox -> relay -> JetStream -> durable consumer, across NATS outages and crashes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mlops.api.events.v1 import events_pb2
from mlops.kernel.db import Database
from mlops.kernel.events import CloudEvent, DurableConsumer, EventBus, OutboxRelay, record_event
from mlops.kernel.events.testing import eventually, stream_count
from mlops.kernel.tables import leases, outbox
from mlops.stack.servers import NatsServer


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


async def _connected_bus(url: str) -> EventBus:
    bus = EventBus(url, name=_unique("test-"), reconnect_time_wait=0.2)
    await bus.connect(wait=True)
    async with asyncio.timeout(10):
        await bus.wait_ready()
    return bus


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[EventBus]:
    bus = await _connected_bus(nats_server.url)
    yield bus
    await bus.close()


async def _record(db: Database, source: str, count: int) -> list[str]:
    ids = []
    for n in range(count):
        async with db.transaction() as session:
            ids.append(await record_event(session, events_pb2.Ping(note=str(n)), source=source))
    return ids


async def _pending(db: Database) -> int:
    async with db.transaction() as session:
        query = select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        return int((await session.execute(query)).scalar_one())


async def test_event_reaches_consumer_once_across_a_nats_outage(
    kernel_db: Database, own_nats_server: NatsServer
) -> None:
    source = _unique("s")
    bus = await _connected_bus(own_nats_server.url)
    handled: list[str] = []

    async def remember(_session: AsyncSession, event: CloudEvent) -> None:
        handled.append(event.id)

    consumer = DurableConsumer(
        kernel_db,
        bus,
        name=_unique("c"),
        subjects=[f"mlops.events.{source}.>"],
        handler=remember,
        ack_wait=2.0,
        fetch_timeout=1.0,
    )
    relay = OutboxRelay(kernel_db, bus, holder="relay-1", idle_interval=0.2)
    await consumer.start()
    await relay.start()
    try:
        before = await _record(kernel_db, source, 1)
        await eventually(lambda: handled == before)

        own_nats_server.stop()
        await eventually(lambda: not bus.connected)
        during = await _record(kernel_db, source, 3)  # the changes commit while NATS is down
        await asyncio.sleep(0.5)
        assert await _pending(kernel_db) == 3

        own_nats_server.start()
        await eventually(lambda: sorted(handled) == sorted(before + during), within=30)
        await asyncio.sleep(1.0)  # nothing further is delivered
        assert sorted(handled) == sorted(before + during)
        assert await _pending(kernel_db) == 0
        assert await stream_count(bus, f"mlops.events.{source}.>") == 4
    finally:
        await relay.stop()
        await consumer.stop()
        await bus.close()


async def test_republished_event_is_deduplicated(kernel_db: Database, bus: EventBus) -> None:
    source = _unique("s")
    relay = OutboxRelay(kernel_db, bus, holder="relay-1", idle_interval=0.2)
    await relay.start()
    try:
        [event_id] = await _record(kernel_db, source, 1)
        await eventually(lambda: relay.published == 1)
        # As if the relay crashed after the PubAck but before marking the row published.
        async with kernel_db.transaction() as session:
            await session.execute(update(outbox).values(published_at=None))
        relay.wake()
        await eventually(lambda: relay.duplicates == 1)
        assert relay.published == 1
        assert await stream_count(bus, f"mlops.events.{source}.>") == 1
        assert event_id
    finally:
        await relay.stop()


async def test_consumer_that_crashes_mid_handling_handles_the_event_once(
    kernel_db: Database, bus: EventBus
) -> None:
    source, name = _unique("s"), _unique("c")
    started = asyncio.Event()
    completed: list[str] = []
    calls = 0

    async def crashes_first_time(session: AsyncSession, event: CloudEvent) -> None:
        nonlocal calls
        calls += 1
        # A side effect in the handler's transaction: it must exist exactly once at the end.
        await session.execute(
            leases.insert().values(name=f"handled-{event.id}", holder=name, expires_at=func.now())
        )
        if calls == 1:
            started.set()
            await asyncio.Event().wait()  # hangs until the "process" dies
        completed.append(event.id)

    def consumer() -> DurableConsumer:
        return DurableConsumer(
            kernel_db,
            bus,
            name=name,
            subjects=[f"mlops.events.{source}.>"],
            handler=crashes_first_time,
            ack_wait=1.5,
            fetch_timeout=1.0,
            stop_timeout=0.1,
        )

    first = consumer()
    relay = OutboxRelay(kernel_db, bus, holder="relay-1", idle_interval=0.2)
    await first.start()
    await relay.start()
    try:
        [event_id] = await _record(kernel_db, source, 1)
        async with asyncio.timeout(10):
            await started.wait()
        await first.stop()  # dies mid-handling: no commit, no ack

        second = consumer()
        await second.start()
        try:
            await eventually(lambda: completed == [event_id], within=15)
            # A second copy of the same event (another publisher, a replay) is skipped by the inbox.
            await bus.js.publish(
                f"mlops.events.{source}.Ping",
                (await _outbox_body(kernel_db, event_id)),
                headers={"Nats-Msg-Id": _unique("other-")},
            )
            await eventually(lambda: second.skipped == 1)
            await asyncio.sleep(2.0)  # past ack_wait: no redelivery after the ack
        finally:
            await second.stop()
        assert completed == [event_id]
        assert calls == 2
        async with kernel_db.transaction() as session:
            query = select(func.count()).select_from(leases).where(leases.c.name == f"handled-{event_id}")
            assert (await session.execute(query)).scalar_one() == 1
    finally:
        await relay.stop()


async def _outbox_body(db: Database, event_id: str) -> bytes:
    async with db.transaction() as session:
        query = select(outbox.c.payload).where(outbox.c.event_id == event_id)
        return bytes((await session.execute(query)).scalar_one())
