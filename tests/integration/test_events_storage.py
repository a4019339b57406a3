"""Outbox rows, inbox claims and leases against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json

import pytest
from opentelemetry import trace
from sqlalchemy import func, select

from mlops.api.events.v1 import events_pb2
from mlops.kernel.db import Database
from mlops.kernel.events import decode, record_event
from mlops.kernel.events.inbox import claim_event, prune_inbox
from mlops.kernel.events.leases import acquire_lease, release_lease
from mlops.kernel.tables import inbox, outbox


async def test_event_row_commits_with_the_change(kernel_db: Database) -> None:
    async with kernel_db.transaction() as session:
        event_id = await record_event(session, events_pb2.Ping(note="hello"), source="kernel", subject="r-1")
    async with kernel_db.transaction() as session:
        row = (await session.execute(select(outbox).where(outbox.c.event_id == event_id))).one()
    assert row.subject == "mlops.events.kernel.Ping"
    assert row.published_at is None
    assert row.attempts == 0
    assert row.headers["Nats-Msg-Id"] == event_id
    assert row.headers["Ce-Type"] == "mlops.events.v1.Ping"
    event = decode(row.payload)
    assert event.id == event_id
    assert event.subject == "r-1"
    assert event.payload(events_pb2.Ping).note == "hello"


async def test_event_row_rolls_back_with_the_change(kernel_db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with kernel_db.transaction() as session:
            await record_event(session, events_pb2.Ping(note="lost"), source="kernel")
            raise RuntimeError("the change failed")
    async with kernel_db.transaction() as session:
        assert (await session.execute(select(func.count()).select_from(outbox))).scalar_one() == 0


async def test_trace_context_is_stored_with_the_event(kernel_db: Database) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()
    with provider.get_tracer("test").start_as_current_span("request") as span:
        async with kernel_db.transaction() as session:
            event_id = await record_event(session, events_pb2.Ping(), source="kernel")
    trace_id = format(span.get_span_context().trace_id, "032x")
    async with kernel_db.transaction() as session:
        headers = (
            await session.execute(select(outbox.c.headers).where(outbox.c.event_id == event_id))
        ).scalar_one()
    assert headers["traceparent"].split("-")[1] == trace_id
    assert trace.get_current_span().get_span_context().is_valid is False
    assert json.dumps(headers)  # headers stay plain strings


async def test_inbox_claims_an_event_once_per_consumer(kernel_db: Database) -> None:
    async with kernel_db.transaction() as session:
        assert await claim_event(session, "billing", "e1") is True
    async with kernel_db.transaction() as session:
        assert await claim_event(session, "billing", "e1") is False
        assert await claim_event(session, "audit", "e1") is True
    async with kernel_db.transaction() as session:
        assert await prune_inbox(session, "billing", retention_seconds=3600) == 0
    await asyncio.sleep(0.05)
    async with kernel_db.transaction() as session:
        assert await prune_inbox(session, "billing", retention_seconds=0) == 1
        remaining = (await session.execute(select(inbox.c.consumer))).scalars().all()
    assert remaining == ["audit"]


async def test_lease_has_one_holder_until_it_expires(kernel_db: Database) -> None:
    async with kernel_db.transaction() as session:
        assert await acquire_lease(session, "job", "a", seconds=0.5) is True
    async with kernel_db.transaction() as session:
        assert await acquire_lease(session, "job", "b", seconds=0.5) is False
        assert await acquire_lease(session, "job", "a", seconds=0.5) is True  # renewal
    await asyncio.sleep(0.6)
    async with kernel_db.transaction() as session:
        assert await acquire_lease(session, "job", "b", seconds=5) is True
    async with kernel_db.transaction() as session:
        assert await acquire_lease(session, "job", "a", seconds=5) is False
        await release_lease(session, "job", "b")
    async with kernel_db.transaction() as session:
        assert await acquire_lease(session, "job", "a", seconds=5) is True
