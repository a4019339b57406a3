"""ServiceRuntime: a real service process starts, reports SERVING, answers through the interceptor,
and stops cleanly on SIGTERM; in-process, health turns NOT_SERVING before the server goes away."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from mlops.api.audit.v1 import audit_pb2, audit_pb2_grpc
from mlops.api.dataset.v1 import dataset_pb2, dataset_pb2_grpc
from mlops.kernel.grpcx import open_channel
from mlops.kernel.runtime import ServiceRuntime
from mlops.stack.ports import free_port
from mlops.stack.servers import NatsServer
from services.dataset.main import build
from services.dataset.settings import DatasetSettings
from tests.integration.test_grpc_auth import ADMIN, start_identity

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def identity_address() -> AsyncIterator[str]:
    server, address, _ = await start_identity()
    yield address
    await server.stop(0)


async def _wait_serving(address: str) -> None:
    """Bound it with asyncio.timeout."""
    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1, wait_for_ready=True)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.1)


async def _listed_services(address: str) -> set[str]:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        async for reply in stub.ServerReflectionInfo(iter([request]), timeout=5):
            return {service.name for service in reply.list_services_response.service}
    return set()


async def test_service_process_starts_serves_and_stops_on_sigterm(
    tmp_path: Path, identity_address: str, nats_server: NatsServer
) -> None:
    grpc_port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "MLOPS_DATA_DIR": str(tmp_path / "data"),
        "MLOPS_GRPC_PORT": str(grpc_port),
        "MLOPS_METRICS_PORT": str(metrics_port),
        "MLOPS_IDENTITY_ADDRESS": identity_address,
        "MLOPS_NATS_URL": nats_server.url,
        "MLOPS_SHUTDOWN_GRACE_SECONDS": "1",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.dataset.main",
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    address = f"127.0.0.1:{grpc_port}"
    try:
        async with asyncio.timeout(30):
            await _wait_serving(address)
        assert {
            "mlops.dataset.v1.DatasetService",
            "mlops.audit.v1.AuditService",
            "grpc.health.v1.Health",
        } <= (await _listed_services(address))
        async with open_channel(address) as anonymous:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await dataset_pb2_grpc.DatasetServiceStub(anonymous).CreateDataset(
                    dataset_pb2.CreateDatasetRequest(name="x")
                )
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
        async with open_channel(address, token=ADMIN) as admin:
            with pytest.raises(grpc.aio.AioRpcError) as invalid:
                await dataset_pb2_grpc.DatasetServiceStub(admin).CreateDataset(
                    dataset_pb2.CreateDatasetRequest(name="x")
                )
            records = await audit_pb2_grpc.AuditServiceStub(admin).ListAuditRecords(
                audit_pb2.ListAuditRecordsRequest()
            )
        # No scenario: refused by the dataset service itself, past the interceptor.
        assert invalid.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert [(r.outcome, r.actor) for r in records.records] == [
            ("error", "ada"),
            ("unauthenticated", "anonymous"),
        ]
        async with httpx.AsyncClient() as http:
            scraped = await http.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
        assert "rpc_server_duration" in scraped.text
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(15):
                stdout, stderr = await process.communicate()
        except TimeoutError:
            process.kill()
            stdout, stderr = await process.communicate()
    # A stop that hung past the grace period would have been killed above: returncode -9.
    assert process.returncode == 0, stderr.decode()[-3000:]
    # The runtime logs to stderr only: stdout stays free for a supervisor.
    assert stdout == b""
    assert b'"service ready"' in stderr


async def test_health_turns_not_serving_when_stopping(tmp_path: Path, identity_address: str) -> None:
    settings = DatasetSettings(
        data_dir=tmp_path,
        grpc_port=0,
        identity_address=identity_address,
        events_enabled=False,
        shutdown_grace_seconds=0.5,
    )
    runtime: ServiceRuntime = build(settings)
    await runtime.start()
    address = f"127.0.0.1:{runtime.port}"
    statuses: list[int] = []
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            watch = health_pb2_grpc.HealthStub(channel).Watch(
                health_pb2.HealthCheckRequest(service="mlops.dataset.v1.DatasetService"), timeout=10
            )
            statuses.append((await watch.read()).status)
            stop = asyncio.create_task(runtime.stop())
            statuses.append((await watch.read()).status)
            await stop
    finally:
        await runtime.stop()
    assert statuses == [health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING]
