"""Durable consumers: dead letters, configuration reconciliation, trace context."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.ext.asyncio import AsyncSession

from mlops.api.events.v1 import events_pb2
from mlops.kernel.db import Database
from mlops.kernel.events import (
    DEADLETTER_STREAM,
    STREAM,
    CloudEvent,
    DurableConsumer,
    EventBus,
    OutboxRelay,
    decode,
    record_event,
)
from mlops.kernel.events.testing import eventually
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


@pytest.fixture
async def relay(kernel_db: Database, bus: EventBus) -> AsyncIterator[OutboxRelay]:
    relay = OutboxRelay(kernel_db, bus, holder="relay-1", idle_interval=0.2)
    await relay.start()
    yield relay
    await relay.stop()


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    """An SDK tracer provider (set once per process) whose finished spans the test can read."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


async def test_poison_event_moves_to_the_dead_letter_stream(
    kernel_db: Database, bus: EventBus, relay: OutboxRelay
) -> None:
    source, name = _unique("s"), _unique("c")
    attempts: list[int] = []

    async def always_fails(_session: AsyncSession, event: CloudEvent) -> None:
        attempts.append(1)
        raise ValueError(f"cannot handle {event.id}")

    consumer = DurableConsumer(
        kernel_db,
        bus,
        name=name,
        subjects=[f"mlops.events.{source}.>"],
        handler=always_fails,
        max_deliver=3,
        backoff=[0.1, 0.2],
        fetch_timeout=1.0,
    )
    await consumer.start()
    try:
        async with kernel_db.transaction() as session:
            event_id = await record_event(session, events_pb2.Ping(note="poison"), source=source)
        await eventually(lambda: consumer.dead_lettered == 1, within=15)
        await asyncio.sleep(0.5)  # terminated: no fourth delivery
        assert len(attempts) == 3
    finally:
        await consumer.stop()
    letter = await bus.js.get_last_msg(DEADLETTER_STREAM, f"mlops.deadletter.{name}.Ping")
    assert decode(letter.data).id == event_id
    headers = letter.headers or {}
    assert headers["Mlops-Consumer"] == name
    assert headers["Mlops-Deliveries"] == "3"
    assert "cannot handle" in headers["Mlops-Error"]
    assert headers["Mlops-Original-Subject"] == f"mlops.events.{source}.Ping"
    assert headers["Nats-Msg-Id"] == f"{event_id}:{name}"


async def test_malformed_message_is_dead_lettered_at_once(kernel_db: Database, bus: EventBus) -> None:
    source, name = _unique("s"), _unique("c")

    async def never_called(_session: AsyncSession, _event: CloudEvent) -> None:
        raise AssertionError("a malformed body must not reach the handler")

    consumer = DurableConsumer(
        kernel_db,
        bus,
        name=name,
        subjects=[f"mlops.events.{source}.>"],
        handler=never_called,
        fetch_timeout=1.0,
    )
    await consumer.start()
    try:
        await bus.js.publish(f"mlops.events.{source}.Ping", b"{not json")
        await eventually(lambda: consumer.dead_lettered == 1)
    finally:
        await consumer.stop()
    letter = await bus.js.get_last_msg(DEADLETTER_STREAM, f"mlops.deadletter.{name}.Malformed")
    assert letter.data == b"{not json"


async def test_consumer_configuration_is_reconciled_at_start(sqlite_url: str, bus: EventBus) -> None:
    db = Database(sqlite_url)
    name = _unique("c")

    async def ignore(_session: AsyncSession, _event: CloudEvent) -> None:
        return None

    def consumer(**options: object) -> DurableConsumer:
        return DurableConsumer(db, bus, name=name, handler=ignore, fetch_timeout=1.0, **options)  # type: ignore[arg-type]

    try:
        old = consumer(subjects=["mlops.events.a.>"], ack_wait=30.0, max_deliver=5)
        await old.start()
        await old.stop()
        new = consumer(
            subjects=["mlops.events.a.>", "mlops.events.b.>"],
            ack_wait=12.0,
            max_deliver=7,
            backoff=[1.0, 4.0],
        )
        await new.start()
        await new.stop()
        config = (await bus.js.consumer_info(STREAM, name)).config
        assert config.ack_wait == 12.0
        assert config.max_deliver == 7
        assert not config.backoff  # failure delays are the consumer's naks, not server redeliveries
        assert sorted(config.filter_subjects or []) == ["mlops.events.a.>", "mlops.events.b.>"]

        # A field the server cannot change in place: the consumer is recreated with ours.
        await bus.js.delete_consumer(STREAM, name)
        await bus.js.add_consumer(
            STREAM,
            ConsumerConfig(
                name=name,
                durable_name=name,
                deliver_policy=DeliverPolicy.NEW,
                filter_subject="mlops.events.a.>",
            ),
        )
        again = consumer(subjects=["mlops.events.a.>"], ack_wait=12.0, max_deliver=7)
        await again.start()
        await again.stop()
        config = (await bus.js.consumer_info(STREAM, name)).config
        assert config.deliver_policy == DeliverPolicy.ALL
        assert config.max_deliver == 7
    finally:
        await db.dispose()


async def test_handler_span_continues_the_producers_trace(
    kernel_db: Database, bus: EventBus, relay: OutboxRelay, spans: InMemorySpanExporter
) -> None:
    source, name = _unique("s"), _unique("c")
    seen: list[tuple[int, str]] = []

    async def remember_trace(_session: AsyncSession, event: CloudEvent) -> None:
        context = trace.get_current_span().get_span_context()
        seen.append((context.trace_id, event.id))

    consumer = DurableConsumer(
        kernel_db,
        bus,
        name=name,
        subjects=[f"mlops.events.{source}.>"],
        handler=remember_trace,
        fetch_timeout=1.0,
    )
    await consumer.start()
    try:
        tracer = trace.get_tracer("test")
        with tracer.start_as_current_span("CreateDataset") as request_span:
            async with kernel_db.transaction() as session:
                event_id = await record_event(session, events_pb2.Ping(), source=source)
        producer_trace = request_span.get_span_context().trace_id
        await eventually(lambda: len(seen) == 1)
    finally:
        await consumer.stop()
    assert seen == [(producer_trace, event_id)]
    [handled] = [s for s in spans.get_finished_spans() if s.name == f"{name} handle Ping"]
    assert handled.context.trace_id == producer_trace
    assert handled.parent is not None and handled.parent.span_id == request_span.get_span_context().span_id
    assert handled.kind == trace.SpanKind.CONSUMER
