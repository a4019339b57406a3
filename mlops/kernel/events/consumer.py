"""Durable pull consumers with idempotent handlers, dead letters and trace context."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import APIError, NotFoundError
from opentelemetry import propagate, trace
from sqlalchemy.ext.asyncio import AsyncSession

from mlops.kernel.db import Database
from mlops.kernel.events.bus import EventBus
from mlops.kernel.events.envelope import (
    DEADLETTER_PREFIX,
    DEADLETTER_STREAM,
    HEADER_MSG_ID,
    STREAM,
    CloudEvent,
    EnvelopeError,
    decode,
)
from mlops.kernel.events.inbox import claim_event, prune_inbox

log = logging.getLogger(__name__)
tracer = trace.get_tracer("mlops.kernel.events")

Handler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]

# Headers a dead letter carries besides the original message's.
HEADER_ERROR = "Mlops-Error"
HEADER_CONSUMER = "Mlops-Consumer"
HEADER_DELIVERIES = "Mlops-Deliveries"
HEADER_ORIGINAL_SUBJECT = "Mlops-Original-Subject"
HEADER_ORIGINAL_SEQUENCE = "Mlops-Original-Sequence"

_PRUNE_INTERVAL = 3600.0


class DurableConsumer:
    """Handles each event of `subjects` once per consumer name, whatever NATS redelivers.

    For every message the inbox claim and the handler run in one database transaction, committed before
    the ack: a crash before the commit leads to a redelivery that is handled; a crash after it leads to
    a redelivery that the inbox skips.
    """

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        *,
        name: str,
        subjects: list[str],
        handler: Handler,
        max_deliver: int = 5,
        ack_wait: float = 30.0,
        backoff: list[float] | None = None,
        inbox_retention_seconds: float = 8 * 24 * 3600.0,
        batch_size: int = 16,
        fetch_timeout: float = 5.0,
        stop_timeout: float = 10.0,
    ) -> None:
        if not name or any(c in name for c in ".*> \t"):
            raise ValueError(f"consumer name {name!r} must be one NATS subject token")
        if not subjects:
            raise ValueError("a consumer needs at least one subject")
        if backoff is not None and (not backoff or min(backoff) < 0):
            raise ValueError("backoff needs at least one non-negative delay")
        self.db = db
        self.bus = bus
        self.name = name
        self.subjects = list(subjects)
        self.handler = handler
        self.max_deliver = max_deliver
        self.ack_wait = ack_wait
        self.backoff = list(backoff) if backoff else None
        self.inbox_retention_seconds = inbox_retention_seconds
        self.batch_size = batch_size
        self.fetch_timeout = fetch_timeout
        self.stop_timeout = stop_timeout
        # Counters for tests and metrics.
        self.handled = 0
        self.skipped = 0
        self.failed = 0
        self.dead_lettered = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        # True while a message is being handled: only then does stop() wait instead of cancelling.
        self._handling = False
        self._subscription: JetStreamContext.PullSubscription | None = None
        self._last_prune: float | None = None

    def desired_config(self) -> ConsumerConfig:
        filters: dict[str, Any] = (
            {"filter_subject": self.subjects[0]}
            if len(self.subjects) == 1
            else {"filter_subjects": sorted(self.subjects)}
        )
        return ConsumerConfig(
            name=self.name,
            durable_name=self.name,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            max_deliver=self.max_deliver,
            # `backoff` stays ours (the nak delays): on the server it would replace ack_wait with
            # backoff[0] and redeliver a slow handler's message while it is still being handled.
            **filters,
        )

    async def start(self) -> None:
        """Reconcile the consumer's configuration (when NATS is up) and start handling messages."""
        if self._task is not None:
            return
        self._stopping = False
        if self.bus.connected:
            with contextlib.suppress(Exception):
                await self.reconcile()
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.name}")

    async def stop(self) -> None:
        """Stop fetching; a message being handled gets `stop_timeout` to finish, then is abandoned."""
        self._stopping = True
        task, self._task = self._task, None
        if task is None:
            return
        if not self._handling:
            # Fetching, binding or backing off: nothing to lose by cancelling now.
            task.cancel()
        _, pending = await asyncio.wait({task}, timeout=self.stop_timeout)
        if pending:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        await self._unsubscribe()

    async def reconcile(self) -> None:
        """Make the server's consumer match ours; an existing durable would otherwise keep its old config."""
        js = self.bus.js
        desired = self.desired_config()
        try:
            info = await js.consumer_info(STREAM, self.name)
        except NotFoundError:
            await js.add_consumer(STREAM, desired)
            log.info("created consumer", extra={"fields": {"consumer": self.name}})
            return
        drift = _config_drift(info.config, desired)
        if not drift:
            return
        try:
            await js.add_consumer(STREAM, desired)
            log.info("updated consumer", extra={"fields": {"consumer": self.name, "fields": drift}})
        except APIError as exc:
            # Some fields (the filter on older servers, deliver policy) cannot change in place. Recreating
            # restarts delivery from the stream's start; the inbox skips what was already handled.
            log.warning(
                "consumer update refused; recreating",
                extra={"fields": {"consumer": self.name, "fields": drift, "error": str(exc)}},
            )
            await js.delete_consumer(STREAM, self.name)
            await js.add_consumer(STREAM, desired)

    async def _run(self) -> None:
        retry = 0.5
        while not self._stopping:
            try:
                messages = await self._next_batch()
                retry = 0.5
            except asyncio.CancelledError:
                if self._stopping:
                    return
                raise
            except Exception as exc:
                if self._stopping:
                    return
                log.warning(
                    "fetching failed; retrying",
                    extra={"fields": {"consumer": self.name, "error": repr(exc)}},
                )
                # A server that lost the consumer (a fresh data directory) needs it reconciled again.
                await self._unsubscribe()
                await asyncio.sleep(retry)
                retry = min(retry * 2, 5.0)
                continue
            for message in messages:
                if self._stopping:
                    return
                self._handling = True
                try:
                    await self.handle(message)
                except Exception:
                    # An ack or nak lost with the connection: the message comes back after ack_wait.
                    log.exception("handling a message failed", extra={"fields": {"consumer": self.name}})
                finally:
                    self._handling = False

    async def _next_batch(self) -> list[Msg]:
        """The next messages; empty when the long poll ended without any."""
        if self._subscription is None:
            await self._bind()
        assert self._subscription is not None
        try:
            return await self._subscription.fetch(self.batch_size, timeout=self.fetch_timeout)
        except TimeoutError:
            # nats-py raises its own TimeoutError or asyncio's, depending on where the wait ended.
            pass
        except APIError as exc:
            # 408: the server expired the pull request; 409: it ended it (a leader change).
            if exc.code not in (408, 409):
                raise
        await self._prune_if_due()
        return []

    async def _bind(self) -> None:
        if not self.bus.connected:
            raise ConnectionError("NATS is not connected")
        await self.reconcile()
        self._subscription = await self.bus.js.pull_subscribe_bind(durable=self.name, stream=STREAM)

    async def _unsubscribe(self) -> None:
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def handle(self, msg: Msg) -> None:
        """Handle one delivered message: claim, run the handler, commit, then ack (or nak / dead-letter)."""
        try:
            event = decode(msg.data)
        except EnvelopeError as exc:
            # No number of redeliveries will make a malformed body readable.
            await self._dead_letter(msg, None, exc)
            return
        parent = propagate.extract(dict(msg.headers or {}))
        with tracer.start_as_current_span(
            f"{self.name} handle {event.type_name}",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "nats",
                "messaging.destination.name": msg.subject,
                "messaging.consumer.group.name": self.name,
                "messaging.message.id": event.id,
                "cloudevents.event_type": event.type,
            },
        ) as span:
            try:
                async with self.db.transaction() as session:
                    first_time = await claim_event(session, self.name, event.id)
                    if first_time:
                        await self.handler(session, event)
            except Exception as exc:
                span.record_exception(exc)
                span.set_status(trace.Status(trace.StatusCode.ERROR, str(exc)))
                await self._handler_failed(msg, event, exc)
                return
            if first_time:
                self.handled += 1
            else:
                self.skipped += 1
                span.set_attribute("mlops.duplicate", True)
            await msg.ack()

    async def _handler_failed(self, msg: Msg, event: CloudEvent, exc: Exception) -> None:
        self.failed += 1
        delivered = msg.metadata.num_delivered or 1
        if delivered >= self.max_deliver:
            await self._dead_letter(msg, event, exc)
            return
        delay = self._retry_delay(delivered)
        log.warning(
            "handler failed; event will be redelivered",
            extra={
                "fields": {
                    "consumer": self.name,
                    "event_id": event.id,
                    "deliveries": delivered,
                    "retry_in_s": delay,
                    "error": repr(exc),
                }
            },
        )
        await msg.nak(delay=delay)

    def _retry_delay(self, delivered: int) -> float:
        if self.backoff:
            return self.backoff[min(delivered - 1, len(self.backoff) - 1)]
        return min(self.ack_wait, 2.0 ** (delivered - 1))

    async def _dead_letter(self, msg: Msg, event: CloudEvent | None, exc: Exception) -> None:
        type_name = event.type_name if event else "Malformed"
        headers = dict(msg.headers or {})
        original_id = headers.get(HEADER_MSG_ID) or (event.id if event else "")
        stream_seq = msg.metadata.sequence.stream if msg.metadata.sequence else 0
        headers.update(
            {
                # Its own id: a dead letter republished after a crash is deduplicated too.
                HEADER_MSG_ID: f"{original_id or stream_seq}:{self.name}",
                HEADER_ERROR: repr(exc)[:1000],
                HEADER_CONSUMER: self.name,
                HEADER_DELIVERIES: str(msg.metadata.num_delivered),
                HEADER_ORIGINAL_SUBJECT: msg.subject,
                HEADER_ORIGINAL_SEQUENCE: str(stream_seq),
            }
        )
        try:
            subject = f"{DEADLETTER_PREFIX}.{self.name}.{type_name}"
            await self.bus.js.publish(subject, msg.data, stream=DEADLETTER_STREAM, headers=headers)
        except Exception:
            # Leave it unacknowledged: after ack_wait it comes back and the dead-lettering is retried.
            log.exception("could not dead-letter event", extra={"fields": {"consumer": self.name}})
            return
        self.dead_lettered += 1
        log.error(
            "event moved to the dead-letter stream",
            extra={
                "fields": {
                    "consumer": self.name,
                    "event_id": event.id if event else None,
                    "error": repr(exc),
                }
            },
        )
        await msg.term()

    async def _prune_if_due(self) -> None:
        now = time.monotonic()
        if self._last_prune is not None and now - self._last_prune < _PRUNE_INTERVAL:
            return
        self._last_prune = now
        try:
            async with self.db.transaction() as session:
                await prune_inbox(session, self.name, self.inbox_retention_seconds)
        except Exception:
            log.exception("pruning the inbox failed", extra={"fields": {"consumer": self.name}})


def _config_drift(current: ConsumerConfig, desired: ConsumerConfig) -> list[str]:
    drift: list[str] = []
    if current.deliver_policy != desired.deliver_policy:
        drift.append("deliver_policy")
    if current.ack_policy != desired.ack_policy:
        drift.append("ack_policy")
    if _round(current.ack_wait) != _round(desired.ack_wait):
        drift.append("ack_wait")
    if current.max_deliver != desired.max_deliver:
        drift.append("max_deliver")
    if [_round(b) for b in current.backoff or []] != [_round(b) for b in desired.backoff or []]:
        drift.append("backoff")
    if _filters(current) != _filters(desired):
        drift.append("filter_subjects")
    return drift


def _filters(config: ConsumerConfig) -> list[str]:
    if config.filter_subjects:
        return sorted(config.filter_subjects)
    return [config.filter_subject] if config.filter_subject else []


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
