"""ServiceRuntime: the one place that wires a gRPC service process together.

Start order: logging, telemetry, database migrations, the gRPC server (health NOT_SERVING), the event
bus with its outbox relay and durable consumers, then health SERVING. Stop runs it backwards: health
NOT_SERVING, stop accepting and let calls in flight finish within a grace period, then consumers,
relay, bus, database and telemetry.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc

from mlops.api.audit.v1 import audit_pb2, audit_pb2_grpc
from mlops.kernel.audit import AUDIT_PERMISSIONS, AuditRecorder, AuditServicer
from mlops.kernel.auth import Permission
from mlops.kernel.db import Database, migrate_async
from mlops.kernel.grpcx.interceptors import Verifier
from mlops.kernel.grpcx.policy import MethodPolicy
from mlops.kernel.grpcx.server import NOT_SERVING, SERVING, add_health, create_server, enable_reflection
from mlops.kernel.grpcx.tls import add_port
from mlops.kernel.identity_client import TokenVerifier
from mlops.kernel.logging import configure_logging
from mlops.kernel.settings import ServiceSettings
from mlops.kernel.telemetry import Telemetry, setup_telemetry

if TYPE_CHECKING:
    from mlops.kernel.events import DurableConsumer, EventBus, OutboxRelay

log = logging.getLogger(__name__)

AUDIT_SERVICE = audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name


class RuntimeSettings(ServiceSettings):
    """What the runtime itself reads, beyond the kernel's settings."""

    # Off only where a process must run without NATS (some tests); events then stay in the outbox.
    events_enabled: bool = True
    shutdown_grace_seconds: float = 5.0


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable consumer the runtime starts once the bus is up."""

    name: str
    subjects: Sequence[str]
    handler: Callable[..., Awaitable[Any]]


# Adds the service's servicers to `runtime.server` and returns their full service names.
Register = Callable[["ServiceRuntime"], Iterable[str]]


class ServiceRuntime:
    def __init__(
        self,
        settings: RuntimeSettings,
        *,
        register: Register,
        permissions: Mapping[str, Permission],
        migrations: Path | None,
        unaudited: Iterable[str] = (),
        consumers: Callable[[ServiceRuntime], Sequence[ConsumerSpec]] | None = None,
        verifier: Verifier | None = None,
    ) -> None:
        self.settings = settings
        self.policy = MethodPolicy({**AUDIT_PERMISSIONS, **permissions}, frozenset(unaudited))
        self._register = register
        self._migrations = migrations
        self._consumer_specs = consumers
        self._verifier = verifier
        self.db: Database | None = None
        self.bus: EventBus | None = None
        self.server: grpc.aio.Server | None = None
        self.port = 0
        self.telemetry: Telemetry | None = None
        self._relay: OutboxRelay | None = None
        self._consumers: list[DurableConsumer] = []
        self._health: Any = None
        self._service_names: list[str] = []
        self._stopped = False

    @property
    def holder(self) -> str:
        """This process's name for leases (the outbox relay's)."""
        return f"{self.settings.service_name}@{socket.gethostname()}:{os.getpid()}"

    async def start(self) -> None:
        settings = self.settings
        self.telemetry = setup_telemetry(
            settings.service_name,
            otlp_endpoint=settings.otlp_endpoint,
            metrics_port=settings.metrics_port,
            metrics_host=settings.metrics_host,
        )
        url = settings.resolved_database_url()
        # The Database first: it creates a SQLite file's directory, which the migration needs.
        self.db = Database(url)
        await migrate_async(url, self._migrations)
        if self._verifier is None:
            self._verifier = TokenVerifier(settings.identity_address, tls=settings.tls)
        self.server = create_server(
            self.policy, self._verifier, AuditRecorder(self.db, settings.service_name)
        )
        self._health = add_health(self.server)
        audit_pb2_grpc.add_AuditServiceServicer_to_server(AuditServicer(self.db), self.server)
        self._service_names = [*self._register(self), AUDIT_SERVICE]
        enable_reflection(self.server, self._service_names)
        self.port = add_port(self.server, f"{settings.grpc_host}:{settings.grpc_port}", settings.tls)
        if not self.port:
            raise RuntimeError(f"cannot listen on {settings.grpc_host}:{settings.grpc_port}")
        await self._set_health(NOT_SERVING)
        await self.server.start()
        if settings.events_enabled:
            await self._start_events()
        await self._set_health(SERVING)
        log.info(
            "service ready",
            extra={"fields": {"grpc_port": self.port, "metrics_port": self.telemetry.metrics_port}},
        )

    async def _start_events(self) -> None:
        # Imported here so a process with events disabled never loads the NATS client.
        from mlops.kernel.events import DurableConsumer, EventBus, OutboxRelay

        assert self.db is not None
        self.bus = EventBus(self.settings.nats_url, name=self.settings.service_name)
        # Not waiting for NATS: the outbox holds events until the bus connects.
        await self.bus.connect(wait=False)
        self._relay = OutboxRelay(self.db, self.bus, holder=self.holder)
        await self._relay.start()
        for spec in self._consumer_specs(self) if self._consumer_specs else ():
            consumer = DurableConsumer(
                self.db,
                self.bus,
                name=spec.name,
                subjects=list(spec.subjects),
                handler=spec.handler,
                inbox_retention_seconds=self.settings.inbox_retention_seconds,
            )
            await consumer.start()
            self._consumers.append(consumer)

    async def _set_health(self, status: int) -> None:
        for name in ("", *self._service_names):
            await self._health.set(name, status)

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        log.info("service stopping")
        if self.server is not None:
            # Probes see NOT_SERVING at once; health Watch streams, like any call, are cut after the grace.
            await self._health.enter_graceful_shutdown()
            await self.server.stop(self.settings.shutdown_grace_seconds)
        for consumer in reversed(self._consumers):
            await _quietly(consumer.stop(), "consumer")
        if self._relay is not None:
            await _quietly(self._relay.stop(), "outbox relay")
        if self.bus is not None:
            await _quietly(self.bus.close(), "event bus")
        close = getattr(self._verifier, "close", None)
        if close is not None:
            await _quietly(close(), "token verifier")
        if self.db is not None:
            await self.db.dispose()
        if self.telemetry is not None:
            # Flushing to a collector blocks; keep the loop free meanwhile.
            await asyncio.to_thread(self.telemetry.shutdown)
        log.info("service stopped")

    async def serve(self) -> None:
        """Start, run until SIGTERM or SIGINT, then stop gracefully."""
        loop = asyncio.get_running_loop()
        signalled = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, signalled.set)
        try:
            await self.start()
            # What start() loaded (modules, pools, settings) lives as long as the process: frozen, a
            # full collection no longer walks it. Unfrozen, a full collection triggered by a burst of
            # allocations (a publish reading 10,000 rows) paused the dataset service ~100 ms.
            gc.freeze()
            await signalled.wait()
        finally:
            await self.stop()


async def _quietly(step: Awaitable[Any], what: str) -> None:
    """Shutdown goes on past a part that fails to stop; the failure is logged."""
    try:
        await step
    except Exception:
        log.exception("failed to stop %s", what)


def run_service(build: Callable[[], ServiceRuntime]) -> None:
    """The body of a service's `main()`: build the runtime, configure logging, serve until signalled."""
    runtime = build()
    settings = runtime.settings
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    asyncio.run(runtime.serve())
