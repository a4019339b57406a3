"""`python -m services.gateway.main`: the REST gateway (uvicorn, one worker) and the identity gRPC
service in one event loop, sharing one token store. Stops gracefully on SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Iterator

import grpc
import uvicorn
from grpc_health.v1 import health

from mlops.api.audit.v1 import audit_pb2, audit_pb2_grpc
from mlops.api.identity.v1 import identity_pb2_grpc
from mlops.kernel.audit import AuditRecorder, AuditServicer
from mlops.kernel.db import Database
from mlops.kernel.grpcx.server import SERVING, add_health, create_server, enable_reflection, set_health
from mlops.kernel.grpcx.tls import add_port
from mlops.kernel.logging import configure_logging
from mlops.kernel.telemetry import setup_telemetry
from services.gateway.app import create_app
from services.gateway.bootstrap import bootstrap_tokens
from services.gateway.context import GatewayContext
from services.gateway.health import HealthChecker
from services.gateway.identity import GATEWAY_POLICY, SERVICE_NAME, IdentityServicer
from services.gateway.service import TokenService
from services.gateway.settings import GatewaySettings
from services.gateway.store import SqlTokenStore, migrate_gateway_db

log = logging.getLogger(__name__)

GRACE_SECONDS = 5.0
AUDIT_SERVICE = audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the Gateway owns shutdown for both servers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Gateway:
    """Both servers and what they share. `start()` returns once both accept connections."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.context: GatewayContext | None = None
        self.grpc_server: grpc.aio.Server | None = None
        self.health_servicer: health.aio.HealthServicer | None = None
        self.http_server: _EmbeddedServer | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._http_socket: socket.socket | None = None

    @property
    def http_url(self) -> str:
        # The bound port, which differs from the setting when that is 0 (any free port).
        sock, port = self._http_socket, self.settings.http_port
        if sock is not None and sock.fileno() >= 0:
            port = sock.getsockname()[1]
        return f"http://{self.settings.http_host}:{port}"

    async def start(self) -> None:
        settings = self.settings
        # Claim the HTTP port before anything else, so a taken port fails fast and plainly. It starts
        # listening only once the tokens exist, so "the port answers" still means "ready".
        self._http_socket = _listen(settings.http_host, settings.http_port)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        url = settings.resolved_database_url()
        await migrate_gateway_db(url)
        db = Database(url)
        tokens = TokenService(SqlTokenStore(db))
        await bootstrap_tokens(tokens.store, settings)
        audit = AuditRecorder(db, settings.service_name)
        checker = HealthChecker(
            settings.service_addresses(), settings.health_timeout_seconds, tls=settings.tls
        )
        self.context = GatewayContext(settings=settings, db=db, tokens=tokens, audit=audit, health=checker)
        await self._start_grpc(tokens, audit, db)
        await self._start_http()
        log.info(
            "gateway started",
            extra={"fields": {"http": self.http_url, "identity": settings.identity_address}},
        )

    async def _start_grpc(self, tokens: TokenService, audit: AuditRecorder, db: Database) -> None:
        server = create_server(GATEWAY_POLICY, tokens, audit)
        identity_pb2_grpc.add_IdentityServiceServicer_to_server(IdentityServicer(tokens), server)
        audit_pb2_grpc.add_AuditServiceServicer_to_server(AuditServicer(db), server)
        self.health_servicer = add_health(server)
        enable_reflection(server, [SERVICE_NAME, AUDIT_SERVICE])
        host, port = self.settings.identity_bind()
        add_port(server, f"{host}:{port}", self.settings.tls)
        await server.start()
        await set_health(self.health_servicer, [SERVICE_NAME, AUDIT_SERVICE], SERVING)
        self.grpc_server = server

    async def _start_http(self) -> None:
        assert self.context is not None
        config = uvicorn.Config(
            create_app(self.context),
            host=self.settings.http_host,
            port=self.settings.http_port,
            workers=1,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=int(GRACE_SECONDS),
        )
        self.http_server = _EmbeddedServer(config)
        sockets = [self._http_socket] if self._http_socket else None
        self._http_task = asyncio.create_task(self.http_server.serve(sockets), name="gateway-http")
        while not self.http_server.started:
            if self._http_task.done():
                self._http_task.result()
                raise RuntimeError(f"the gateway's HTTP server did not start on {self.http_url}")
            await asyncio.sleep(0.02)

    async def wait(self) -> None:
        """Until the HTTP server stops (after `stop()` or a fatal error)."""
        if self._http_task is not None:
            await asyncio.shield(self._http_task)

    async def stop(self) -> None:
        if self.health_servicer is not None:
            await self.health_servicer.enter_graceful_shutdown()
        if self.http_server is not None and self._http_task is not None:
            self.http_server.should_exit = True
            with contextlib.suppress(Exception):
                await self._http_task
        if self.grpc_server is not None:
            await self.grpc_server.stop(GRACE_SECONDS)
        if self.context is not None:
            await self.context.health.close()
            await self.context.db.dispose()
        if self._http_socket is not None:
            self._http_socket.close()
        log.info("gateway stopped")


async def serve(settings: GatewaySettings) -> None:
    # Handlers first: a SIGTERM that lands while the gateway is starting still stops it gracefully.
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    gateway = Gateway(settings)
    try:
        await gateway.start()
        waiter = asyncio.create_task(gateway.wait())
        signalled = asyncio.create_task(stopping.wait())
        await asyncio.wait({waiter, signalled}, return_when=asyncio.FIRST_COMPLETED)
        signalled.cancel()
    finally:
        await gateway.stop()


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise RuntimeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    # No listen() here: the server starts listening when it starts serving.
    sock.setblocking(False)
    return sock


def main() -> None:
    settings = GatewaySettings()
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    telemetry = setup_telemetry(
        settings.service_name,
        otlp_endpoint=settings.otlp_endpoint,
        metrics_port=settings.metrics_port,
        metrics_host=settings.metrics_host,
    )
    try:
        asyncio.run(serve(settings))
    except RuntimeError as exc:
        # Ports taken or a database out of reach: one line for whoever reads the log, exit status 1.
        log.error("gateway failed to start: %s", exc)
        sys.exit(1)
    finally:
        telemetry.shutdown()


if __name__ == "__main__":
    main()
