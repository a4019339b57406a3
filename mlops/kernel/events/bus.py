"""The process's NATS connection: reconnects forever and keeps the event streams in shape."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from mlops.kernel.events.envelope import DEADLETTER_PREFIX, DEADLETTER_STREAM, STREAM, SUBJECT_PREFIX

log = logging.getLogger(__name__)

DAY = 24 * 3600.0

EVENT_STREAM_CONFIG = StreamConfig(
    name=STREAM,
    subjects=[f"{SUBJECT_PREFIX}.>"],
    retention=RetentionPolicy.LIMITS,
    storage=StorageType.FILE,
    # Must exceed the longest gap between a relay's publish and its retry of the same event.
    duplicate_window=600.0,
    max_age=14 * DAY,
)

DEADLETTER_STREAM_CONFIG = StreamConfig(
    name=DEADLETTER_STREAM,
    subjects=[f"{DEADLETTER_PREFIX}.>"],
    retention=RetentionPolicy.LIMITS,
    storage=StorageType.FILE,
    duplicate_window=600.0,
    max_age=30 * DAY,
)

# Fields ensure_streams brings back to the declared value when an operator or an older release
# changed them.
_RECONCILED_FIELDS = ("subjects", "max_age", "duplicate_window")

ReconnectListener = Callable[[], Awaitable[None] | None]


class EventBus:
    """A NATS connection that survives server restarts, with the JetStream context on top."""

    def __init__(
        self,
        nats_url: str,
        *,
        name: str,
        reconnect_time_wait: float = 1.0,
        request_timeout: float = 5.0,
    ) -> None:
        self.nats_url = nats_url
        self.name = name
        self.reconnect_time_wait = reconnect_time_wait
        self.request_timeout = request_timeout
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._listeners: list[ReconnectListener] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._last_error_log = 0.0
        self._streams_ready = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("EventBus.connect() has not been called")
        return self._js

    @property
    def nc(self) -> Client:
        if self._nc is None:
            raise RuntimeError("EventBus.connect() has not been called")
        return self._nc

    def on_reconnect(self, listener: ReconnectListener) -> None:
        """Call `listener` after every (re)connection, once the streams are ensured."""
        self._listeners.append(listener)

    def remove_listener(self, listener: ReconnectListener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    async def connect(self, wait: bool = False) -> None:
        """Connect; with wait=False return at once and keep trying in the background if NATS is down."""
        if self._nc is None:
            self._nc = Client()
            self._js = self._nc.jetstream(timeout=self.request_timeout)
            self._connecting = asyncio.create_task(self._first_connect(), name=f"nats-connect-{self.name}")
        if wait and self._connecting is not None:
            await asyncio.shield(self._connecting)

    async def wait_ready(self) -> None:
        """Wait until connected with the streams ensured (bound it with asyncio.timeout)."""
        await self._streams_ready.wait()

    async def _first_connect(self) -> None:
        assert self._nc is not None
        # max_reconnect_attempts=-1 makes even the first connect retry forever, so a platform that
        # starts before NATS comes up once NATS does.
        await self._nc.connect(
            servers=[self.nats_url],
            name=self.name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=self.reconnect_time_wait,  # type: ignore[arg-type]
            connect_timeout=2,
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
        )
        log.info("connected to NATS", extra={"fields": {"url": self.nats_url, "connection": self.name}})
        await self._after_connect()

    async def _after_connect(self) -> None:
        delay = 0.5
        while True:
            try:
                await self.ensure_streams()
                break
            except Exception:
                if self._nc is None or self._nc.is_closed:
                    return
                log.exception("could not ensure JetStream streams; retrying")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        self._streams_ready.set()
        for listener in list(self._listeners):
            try:
                result = listener()
                if result is not None:
                    await result
            except Exception:
                log.exception("reconnect listener failed")

    async def ensure_streams(self) -> None:
        """Create the event and dead-letter streams, or bring their configuration back to ours."""
        for config in (EVENT_STREAM_CONFIG, DEADLETTER_STREAM_CONFIG):
            await self._ensure_stream(config)

    async def _ensure_stream(self, desired: StreamConfig) -> None:
        assert desired.name is not None
        try:
            info = await self.js.stream_info(desired.name)
        except NotFoundError:
            await self.js.add_stream(desired)
            log.info("created stream", extra={"fields": {"stream": desired.name}})
            return
        current = info.config
        drift = [f for f in _RECONCILED_FIELDS if _differs(getattr(current, f), getattr(desired, f))]
        if drift:
            # Keep fields we do not manage (replicas, limits an operator set) as they are.
            merged = current.evolve(**{f: getattr(desired, f) for f in drift})
            await self.js.update_stream(merged)
            log.info("updated stream", extra={"fields": {"stream": desired.name, "fields": drift}})

    async def close(self) -> None:
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._connecting
        for task in list(self._background):
            task.cancel()
        if self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(Exception):
                await self._nc.close()
        self._streams_ready.clear()

    async def _on_error(self, exc: Exception) -> None:
        # While NATS is down the client reports every failed attempt; one line per 30 s is enough.
        now = time.monotonic()
        if now - self._last_error_log > 30:
            self._last_error_log = now
            log.warning("NATS connection error: %s", exc, extra={"fields": {"connection": self.name}})

    async def _on_disconnected(self) -> None:
        self._streams_ready.clear()
        if self._nc is not None and self._nc.is_closed:
            return
        log.warning("disconnected from NATS; reconnecting", extra={"fields": {"connection": self.name}})

    async def _on_reconnected(self) -> None:
        log.info("reconnected to NATS", extra={"fields": {"connection": self.name}})
        # The client awaits this callback on its read path; ensuring streams there would deadlock.
        task = asyncio.create_task(self._after_connect())
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _differs(current: Any, desired: Any) -> bool:
    return _normalised(current) != _normalised(desired)


def _normalised(value: Any) -> Any:
    if isinstance(value, list):
        return sorted(value)
    if isinstance(value, float):
        return round(value, 3)
    return value
