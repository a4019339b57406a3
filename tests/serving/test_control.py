"""The worker's link to the control plane: it registers, reports its replicas, and hosts exactly the
replicas each heartbeat's answer assigns (a stand-in WorkerRegistry plays the control plane)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from mlops.api.common.v1 import common_pb2
from mlops.api.serving.v1 import serving_pb2 as pb
from mlops.api.serving.v1 import serving_pb2_grpc as pb_grpc
from services.serving.worker.control import ControlPlaneLink, worker_description
from services.serving.worker.model_host import OnnxModelHost
from services.serving.worker.settings import ServingWorkerSettings
from tests.serving.conftest import Bundles


class Registry(pb_grpc.WorkerRegistryServicer):
    def __init__(self) -> None:
        self.workers: list[pb.Worker] = []
        self.heartbeats: list[pb.HeartbeatRequest] = []
        self.assignments: list[pb.ReplicaAssignment] = []
        self.beat = asyncio.Event()

    async def RegisterWorker(
        self, request: pb.RegisterWorkerRequest, context: Any
    ) -> pb.RegisterWorkerResponse:
        self.workers.append(request.worker)
        return pb.RegisterWorkerResponse(heartbeat_interval_seconds=1)

    async def Heartbeat(self, request: pb.HeartbeatRequest, context: Any) -> pb.HeartbeatResponse:
        self.heartbeats.append(request)
        self.beat.set()
        return pb.HeartbeatResponse(assignments=self.assignments)


@pytest.fixture
async def registry() -> AsyncIterator[tuple[Registry, str]]:
    server = grpc.aio.server()
    servicer = Registry()
    pb_grpc.add_WorkerRegistryServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield servicer, f"127.0.0.1:{port}"
    await server.stop(0)


async def _next_beat(registry: Registry) -> pb.HeartbeatRequest:
    registry.beat.clear()
    await asyncio.wait_for(registry.beat.wait(), 10)
    return registry.heartbeats[-1]


async def test_the_worker_hosts_what_heartbeats_assign(
    registry: tuple[Registry, str], bundles: Bundles
) -> None:
    servicer, address = registry
    host = OnnxModelHost(pool_threads=1)
    settings = ServingWorkerSettings(worker_id="w-1", inference_grpc_port=18001)
    link = ControlPlaneLink(host, address, worker_description(settings), device="cpu")
    stop = asyncio.Event()
    servicer.assignments = [
        pb.ReplicaAssignment(
            replica_id="fraud-r1",
            deployment="fraud",
            revision=3,
            bundle=common_pb2.ArtifactRef(uri=str(bundles.anomaly)),
            resources=pb.Resources(threads=1),
            batching=pb.Batching(max_batch_size=8, max_queue_delay_us=500),
        )
    ]
    task = asyncio.create_task(link.run(stop))
    try:
        await _next_beat(servicer)
        (worker,) = servicer.workers
        assert (worker.id, worker.pool, worker.address) == ("w-1", pb.POOL_CPU, "127.0.0.1:18001")
        assert "CPUExecutionProvider" in worker.providers
        # The next heartbeat reports the replica the previous answer assigned.
        beat = await _next_beat(servicer)
        (report,) = beat.replicas
        assert (report.replica_id, report.state, report.provider) == (
            "fraud-r1",
            pb.REPLICA_STATE_READY,
            "CPUExecutionProvider",
        )
        replica = host.replica("fraud", "3")
        assert replica.spec.batching.max_batch_size == 8 and replica.spec.threads == 1
        servicer.assignments = []
        await _next_beat(servicer)
        beat = await _next_beat(servicer)
        assert list(beat.replicas) == [] and host.names() == []
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await host.close()
