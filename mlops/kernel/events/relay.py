"""The outbox relay: publishes committed outbox rows to JetStream until NATS acknowledges each one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mlops.kernel.db import Database
from mlops.kernel.events.bus import EventBus
from mlops.kernel.events.envelope import STREAM
from mlops.kernel.events.leases import acquire_lease, release_lease
from mlops.kernel.events.outbox import register_relay, unregister_relay
from mlops.kernel.tables import outbox

log = logging.getLogger(__name__)

LEASE_NAME = "outbox-relay"
_PENDING_COLUMNS = (outbox.c.seq, outbox.c.event_id, outbox.c.subject, outbox.c.payload, outbox.c.headers)


class OutboxRelay:
    """Moves outbox rows to NATS, in order of recording, each acknowledged by JetStream before it counts.

    On PostgreSQL each batch is claimed with SELECT ... FOR UPDATE SKIP LOCKED, so any number of relays
    may run. SQLite cannot skip locked rows, so there one relay at a time holds the "outbox-relay"
    lease and the others wait for it to expire. The event id travels as Nats-Msg-Id: a publish retried
    after a lost acknowledgement is dropped by the stream's duplicate window.
    """

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        *,
        holder: str,
        batch_size: int = 100,
        idle_interval: float = 1.0,
        lease_seconds: float = 10.0,
        retention_seconds: float = 7 * 24 * 3600.0,
        max_retry_interval: float = 10.0,
        publish_timeout: float = 5.0,
        prune_interval: float = 600.0,
    ) -> None:
        self.db = db
        self.bus = bus
        self.holder = holder
        self.batch_size = batch_size
        self.idle_interval = idle_interval
        self.lease_seconds = lease_seconds
        self.retention_seconds = retention_seconds
        self.max_retry_interval = max_retry_interval
        self.publish_timeout = publish_timeout
        self.prune_interval = prune_interval
        # Counters for tests and metrics: acknowledged as new, and acknowledged as duplicates.
        self.published = 0
        self.duplicates = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._holds_lease = False
        self._last_prune: float | None = None

    @property
    def holds_lease(self) -> bool:
        return self._holds_lease

    async def start(self) -> None:
        if self._task is not None:
            return
        self.loop = asyncio.get_running_loop()
        self._stopping = False
        register_relay(self)
        self.bus.on_reconnect(self.wake)
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.holder}")

    async def stop(self) -> None:
        self._stopping = True
        unregister_relay(self)
        self.bus.remove_listener(self.wake)
        if self._task is not None:
            self.wake()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self.publish_timeout + 5)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        if self._holds_lease:
            with contextlib.suppress(Exception):
                async with self.db.transaction() as session:
                    await release_lease(session, LEASE_NAME, self.holder)
            self._holds_lease = False

    def wake(self) -> None:
        """Publish now rather than at the next poll."""
        self._wakeup.set()

    async def _run(self) -> None:
        idle_delay = self.idle_interval
        failures = 0
        while not self._stopping:
            self._wakeup.clear()
            try:
                result = await self._relay_batch()
            except Exception:
                log.exception("outbox relay round failed")
                result = None
            if result is None:
                failures += 1
                delay = min(self.max_retry_interval, 0.5 * 2 ** (failures - 1))
            elif result >= self.batch_size:
                failures = 0
                idle_delay = self.idle_interval
                continue
            else:
                failures = 0
                # Commits in this process wake the relay, so polling only catches other processes' rows:
                # back off while nothing comes, but renew a held lease well before it expires.
                cap = self._max_idle_delay()
                idle_delay = min(self.idle_interval, cap) if result else min(idle_delay * 2, cap)
                delay = idle_delay
            await self._prune_if_due()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), delay)

    def _max_idle_delay(self) -> float:
        cap = self.idle_interval * 8
        if self.db.is_sqlite:
            cap = min(cap, self.lease_seconds / 3)
        return cap

    async def _relay_batch(self) -> int | None:
        """Publish one batch; how many rows it published, or None when publishing failed."""
        if not self.bus.connected:
            # The bus wakes the relay when it reconnects; no attempt is counted against the rows.
            return 0
        if self.db.is_sqlite:
            return await self._relay_batch_leased()
        return await self._relay_batch_locked()

    async def _relay_batch_locked(self) -> int | None:
        async with self.db.transaction() as session:
            rows = (
                await session.execute(
                    select(*_PENDING_COLUMNS)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.seq)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            done, failure = await self._publish(rows)
            await _mark(session, done, failure)
        return None if failure else len(done)

    async def _relay_batch_leased(self) -> int | None:
        async with self.db.transaction() as session:
            self._holds_lease = await acquire_lease(session, LEASE_NAME, self.holder, self.lease_seconds)
            if not self._holds_lease:
                return 0
            rows = (
                await session.execute(
                    select(*_PENDING_COLUMNS)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.seq)
                    .limit(self.batch_size)
                )
            ).all()
        if not rows:
            return 0
        # Publish outside the transaction: SQLite's single writer would otherwise block every service
        # write for as long as NATS takes to acknowledge. The lease keeps other relays off these rows.
        done, failure = await self._publish(rows)
        async with self.db.transaction() as session:
            await _mark(session, done, failure)
        return None if failure else len(done)

    async def _publish(
        self, rows: Sequence[Row[Any, Any, Any, Any, Any]]
    ) -> tuple[list[int], tuple[int, str] | None]:
        """Publish rows in order, stopping at the first failure: (published seqs, (failed seq, error))."""
        done: list[int] = []
        for row in rows:
            try:
                ack = await self.bus.js.publish(
                    row.subject,
                    row.payload,
                    timeout=self.publish_timeout,
                    stream=STREAM,
                    headers=dict(row.headers),
                )
            except Exception as exc:
                log.warning(
                    "publishing event failed; will retry",
                    extra={"fields": {"event_id": row.event_id, "error": repr(exc)}},
                )
                return done, (row.seq, repr(exc)[:2000])
            if ack.duplicate:
                self.duplicates += 1
            else:
                self.published += 1
            done.append(row.seq)
        return done, None

    async def _prune_if_due(self) -> None:
        now = time.monotonic()
        if self.db.is_sqlite and not self._holds_lease:
            return
        if self._last_prune is not None and now - self._last_prune < self.prune_interval:
            return
        self._last_prune = now
        cutoff = datetime.now(UTC) - timedelta(seconds=self.retention_seconds)
        try:
            async with self.db.transaction() as session:
                await session.execute(
                    delete(outbox).where(outbox.c.published_at.is_not(None), outbox.c.published_at < cutoff)
                )
        except Exception:
            log.exception("pruning the outbox failed")


async def _mark(session: AsyncSession, done: list[int], failure: tuple[int, str] | None) -> None:
    if done:
        await session.execute(
            update(outbox).where(outbox.c.seq.in_(done)).values(published_at=datetime.now(UTC))
        )
    if failure is not None:
        seq, error = failure
        await session.execute(
            update(outbox).where(outbox.c.seq == seq).values(attempts=outbox.c.attempts + 1, last_error=error)
        )
