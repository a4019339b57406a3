"""`mlops deployments ...` against a running control plane, with a worker speaking WorkerRegistry
over real gRPC (heartbeats reporting its replicas ready)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops.api.serving.v1 import serving_pb2 as pb
from mlops.api.serving.v1 import serving_pb2_grpc
from mlops.cli.main import app
from mlops.kernel.grpcx import open_channel
from mlops.stack.servers import NatsServer
from mlops.stack.stackfile import StackInfo
from tests.serving_control.harness import ENGINEER, SERVICE, VIEWER, ControlPlane, start_control


@pytest.fixture
async def control(tmp_path: Path, nats_server: NatsServer) -> AsyncIterator[ControlPlane]:
    bundles = {n: tmp_path / f"bundle-{n}" for n in (1, 2)}
    async for plane in start_control(tmp_path, nats_server, bundles):
        yield plane


async def _worker(address: str, stop: asyncio.Event) -> None:
    """Registers, then reports every assigned replica ready, as a real worker would once loaded."""
    async with open_channel(address, token=SERVICE, default_timeout=10) as channel:
        stub = serving_pb2_grpc.WorkerRegistryStub(channel)
        worker = pb.Worker(
            id="w-cli", pool=pb.POOL_CPU, address="127.0.0.1:1", memory_bytes=4 << 30, threads=4
        )
        await stub.RegisterWorker(pb.RegisterWorkerRequest(worker=worker))
        assigned: list[pb.ReplicaAssignment] = []
        while not stop.is_set():
            reports = [
                pb.ReplicaReport(replica_id=a.replica_id, state=pb.REPLICA_STATE_READY) for a in assigned
            ]
            reply = await stub.Heartbeat(pb.HeartbeatRequest(worker_id="w-cli", replicas=reports))
            assigned = list(reply.assignments)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)


async def _mlops(data_dir: Path, *args: str, token: str = ENGINEER, code: int = 0) -> str:
    """Runs the CLI in a thread: its blocking gRPC calls must not stall the service's event loop."""
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["deployments", *args, "--data-dir", str(data_dir), "--token", token]
    )
    assert result.exit_code == code, result.output
    return result.output


async def test_cli_deploys_updates_rolls_back_and_stops(control: ControlPlane, tmp_path: Path) -> None:
    data_dir = tmp_path / "cli"
    data_dir.mkdir()
    address = f"127.0.0.1:{control.runtime.port}"
    StackInfo(data_dir=str(data_dir), endpoints={"serving": address}).save()
    stop = asyncio.Event()
    worker = asyncio.create_task(_worker(address, stop))
    try:
        # The worker task registers in the background: wait for it rather than race it.
        for _ in range(60):
            if "w-cli" in await _mlops(data_dir, "workers"):
                break
            await asyncio.sleep(0.5)
        assert "w-cli" in await _mlops(data_dir, "workers")
        deployed = await _mlops(
            data_dir,
            "deploy",
            "fraud",
            "--model",
            "fraud-model",
            "--version",
            "1",
            "--max-batch-size",
            "8",
            "--public",
        )
        assert "fraud" in deployed and "fraud-model v1" in deployed
        assert "PERMISSION_DENIED" in await _mlops(data_dir, "scale", "fraud", "2", token=VIEWER, code=1)
        assert "RESOURCE_EXHAUSTED" in await _mlops(data_dir, "scale", "fraud", "2", code=1)
        assert "NOT_FOUND" in await _mlops(
            data_dir, "deploy", "other", "--model", "fraud-model", "--version", "9", code=1
        )

        for _ in range(50):
            if "ready" in await _mlops(data_dir, "show", "fraud"):
                break
            await asyncio.sleep(0.2)
        assert "ready" in await _mlops(data_dir, "list")
        assert "fraud-model v2" in await _mlops(data_dir, "update", "fraud", "--version", "2")
        canary = await _mlops(data_dir, "update", "fraud", "--version", "1", "--canary", "10")
        assert "canary: r3 (fraud-model v1) at 10%" in canary
        shifted = await _mlops(
            data_dir, "traffic", "fraud", "--stable", "2", "--canary", "3", "--weight", "25"
        )
        assert "at 25%" in shifted
        split = await _mlops(data_dir, "metrics", "fraud")
        assert "stable" in split and "canary" in split
        assert "stable: r3" in await _mlops(data_dir, "promote", "fraud")
        assert "stable: r2" in await _mlops(data_dir, "rollback", "fraud", "--reason", "drift")
        assert "stable: r1" in await _mlops(data_dir, "rollback", "fraud", "--to", "1")
        listed = json.loads(await _mlops(data_dir, "revisions", "fraud", "--json"))
        assert [r["number"] for r in listed["revisions"]] == [1, 2, 3]
        assert "0 requests" in await _mlops(data_dir, "metrics", "fraud")
        assert "stopped" in await _mlops(data_dir, "stop", "fraud")
        assert "removed fraud" in await _mlops(data_dir, "remove", "fraud")
        assert "NOT_FOUND" in await _mlops(data_dir, "show", "fraud", code=1)
    finally:
        stop.set()
        await worker
