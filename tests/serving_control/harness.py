"""A running serving control plane for the test_serving_control_* modules: the real runtime (SQLite,
NATS, the auth interceptor, identity) and a stand-in registry over real gRPC answering GetModelVersion
with bundles on this machine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from mlops.api.common.v1 import common_pb2
from mlops.api.registry.v1 import registry_pb2, registry_pb2_grpc
from mlops.api.serving.v1 import serving_pb2_grpc
from mlops.kernel.auth import Role
from mlops.kernel.events import EventBus
from mlops.kernel.grpcx import open_channel
from mlops.kernel.settings import S3Settings
from mlops.stack.servers import NatsServer
from services.serving.main import ServingRuntime, build
from services.serving.settings import ServingSettings
from tests.integration.test_grpc_auth import start_identity

ENGINEER = "mlops_engineer_s3cret"
VIEWER = "mlops_viewer_s3cret"
SERVICE = "mlops_service_s3cret"
TOKENS = {
    ENGINEER: ("erin", Role.MLOPS_ENGINEER),
    VIEWER: ("vera", Role.VIEWER),
    SERVICE: ("serving", Role.SERVICE),
}


class StandInRegistry(registry_pb2_grpc.RegistryServiceServicer):
    """GetModelVersion over bundles on this machine; remembers the authorization each call carried."""

    def __init__(self, bundles: dict[int, Path]) -> None:
        self.bundles = bundles
        self.authorizations: list[str] = []

    async def GetModelVersion(self, request: Any, context: Any) -> registry_pb2.ModelVersion:
        self.authorizations.append(dict(context.invocation_metadata()).get("authorization", ""))
        path = self.bundles.get(request.number)
        if request.model != "fraud-model" or path is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such version")
        return registry_pb2.ModelVersion(
            model_name=request.model, number=request.number, bundle=common_pb2.ArtifactRef(uri=str(path))
        )


@dataclass
class ControlPlane:
    runtime: ServingRuntime
    stub: serving_pb2_grpc.ServingServiceStub
    registry: StandInRegistry
    identity_address: str
    bus: EventBus
    cleanups: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)
    worker_metrics: str = ""


async def start_control(
    tmp_path: Path, nats_server: NatsServer, bundles: dict[int, Path], *, s3: S3Settings | None = None
) -> AsyncIterator[ControlPlane]:
    identity, identity_address, _ = await start_identity(TOKENS)
    registry = StandInRegistry(bundles)
    registry_server = grpc.aio.server()
    registry_pb2_grpc.add_RegistryServiceServicer_to_server(registry, registry_server)
    registry_port = registry_server.add_insecure_port("127.0.0.1:0")
    await registry_server.start()
    settings = ServingSettings(
        data_dir=tmp_path / "data",
        grpc_port=0,
        identity_address=identity_address,
        registry_address=f"127.0.0.1:{registry_port}",
        nats_url=nats_server.url,
        worker_heartbeat_seconds=1,
        worker_dead_after_seconds=3,
        sweep_interval_seconds=0.5,
        shutdown_grace_seconds=0.5,
        log_json=False,
    )
    if s3 is not None:
        settings.s3 = s3
    runtime = build(settings)
    await runtime.start()
    channel = open_channel(f"127.0.0.1:{runtime.port}", token=ENGINEER, default_timeout=30)
    bus = EventBus(nats_server.url, name="serving-control-test")
    await bus.connect(wait=True)
    plane = ControlPlane(
        runtime, serving_pb2_grpc.ServingServiceStub(channel), registry, identity_address, bus
    )
    try:
        yield plane
    finally:
        for cleanup in reversed(plane.cleanups):
            await cleanup()
        await channel.close()
        await bus.close()
        await runtime.stop()
        await registry_server.stop(0)
        await identity.stop(0)
