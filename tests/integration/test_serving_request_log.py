"""Request logging end to end: the real control plane, a real serving worker process and SeaweedFS.
Logging is off until switched on (in place, no new revision); then the worker logs what it answers,
and ListRequestLogRecords and `mlops deployments request-log` read it back, for those allowed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import httpx
import pytest
from google.protobuf import timestamp_pb2
from typer.testing import CliRunner

from mlops.api.common.v1 import common_pb2
from mlops.api.serving.v1 import serving_pb2 as pb
from mlops.api.serving.v1 import serving_pb2_grpc
from mlops.cli.main import app
from mlops.kernel.events.testing import eventually
from mlops.kernel.grpcx import open_channel
from mlops.kernel.objectstore import ObjectStore
from mlops.stack.servers import NatsServer
from mlops.stack.stackfile import StackInfo
from tests.integration.test_serving_control_worker import WINDOWS, ready_on, start_worker
from tests.serving.conftest import ANOMALY, _train
from tests.serving_control.harness import ENGINEER, VIEWER, ControlPlane, start_control


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train(ANOMALY, 0, tmp_path_factory.mktemp("bundles") / "v1")


@pytest.fixture
async def control(
    tmp_path: Path, nats_server: NatsServer, bundle: Path, object_store: ObjectStore
) -> AsyncIterator[ControlPlane]:
    async for plane in start_control(tmp_path, nats_server, {1: bundle}, s3=object_store.settings):
        yield plane


async def _start_worker(plane: ControlPlane, store: ObjectStore) -> str:
    s3 = store.settings
    _, base = await start_worker(
        plane,
        "w-log",
        {
            "MLOPS_S3__ENDPOINT": s3.endpoint,
            "MLOPS_S3__ACCESS_KEY": s3.access_key,
            "MLOPS_S3__SECRET_KEY": s3.secret_key.get_secret_value(),
            "MLOPS_S3__BUCKET": s3.bucket,
            "MLOPS_REQUEST_LOG_FLUSH_SECONDS": "0.5",
        },
    )
    return base


async def _infer(client: httpx.AsyncClient, request_id: str) -> dict:
    reply = await client.post("/v2/models/fraud/infer", json={**WINDOWS, "id": request_id})
    assert reply.status_code == 200, reply.text
    return reply.json()


async def _logged(
    stub: serving_pb2_grpc.ServingServiceStub, start_time: timestamp_pb2.Timestamp | None = None
) -> list[pb.RequestLogRecord]:
    request = pb.ListRequestLogRecordsRequest(
        name="fraud", start_time=start_time, page=common_pb2.PageRequest(page_size=1000)
    )
    reply = await stub.ListRequestLogRecords(request)
    return list(reply.records)


async def _mlops(data_dir: Path, *args: str) -> str:
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["deployments", *args, "--data-dir", str(data_dir), "--token", ENGINEER]
    )
    assert result.exit_code == 0, result.output
    return result.output


async def test_switched_on_logs_are_read_back_by_rpc_and_cli(
    control: ControlPlane, object_store: ObjectStore, tmp_path: Path
) -> None:
    stub = control.stub
    base = await _start_worker(control, object_store)

    async def worker_alive() -> bool:
        return any(w.alive for w in (await stub.ListWorkers(pb.ListWorkersRequest())).workers)

    await eventually(worker_alive, within=60, every=0.2)
    deployed = await stub.Deploy(
        pb.DeployRequest(
            name="fraud", model_version=pb.ModelVersionRef(model="fraud-model", number=1), public=True
        )
    )
    assert not deployed.request_logging and deployed.request_log_sample_rate == 1.0
    await eventually(lambda: ready_on(stub, "fraud", 1), within=60, every=0.2)

    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        for index in range(3):
            await _infer(client, f"before-{index}")
        switched = await stub.Update(pb.UpdateRequest(name="fraud", request_logging=True))
        assert switched.request_logging and len(switched.revisions) == 1

        # The worker learns of it at its next heartbeat and writes within a flush interval.
        probes = iter(range(1000))

        async def logging() -> bool:
            await _infer(client, f"probe-{next(probes)}")
            return bool(await _logged(stub))

        await eventually(logging, within=30, every=0.3)
        answers = {f"after-{i}": await _infer(client, f"after-{i}") for i in range(5)}

        async def all_logged() -> bool:
            return answers.keys() <= {r.request_id for r in await _logged(stub)}

        await eventually(all_logged, within=30, every=0.3)

    records = await _logged(stub)
    assert not [r for r in records if r.request_id.startswith("before-")]
    after = [r for r in records if r.request_id.startswith("after-")]
    for record in after:
        assert (record.deployment, record.revision, record.worker_id) == ("fraud", 1, "w-log")
        assert (record.model_version.model, record.model_version.number) == ("fraud-model", 1)
        assert (record.protocol, record.endpoint, record.truncated) == ("rest", "infer", False)
        (sent,) = json.loads(record.inputs_json)
        assert sent["data"] == WINDOWS["inputs"][0]["data"]
        (output,) = json.loads(record.outputs_json)
        assert output["data"] == pytest.approx(answers[record.request_id]["outputs"][0]["data"], rel=1e-6)

    later = timestamp_pb2.Timestamp()
    later.FromDatetime(datetime.now(UTC) + timedelta(hours=2))
    assert await _logged(stub, start_time=later) == []

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.Update(pb.UpdateRequest(name="fraud", request_log_sample_rate=1.5))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    async with open_channel(f"127.0.0.1:{control.runtime.port}", token=VIEWER) as channel:
        viewer = serving_pb2_grpc.ServingServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await viewer.ListRequestLogRecords(pb.ListRequestLogRecordsRequest(name="fraud"))
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED

    data_dir = tmp_path / "cli"
    data_dir.mkdir()
    StackInfo(data_dir=str(data_dir), endpoints={"serving": f"127.0.0.1:{control.runtime.port}"}).save()
    listed = json.loads(
        await _mlops(data_dir, "request-log", "fraud", "--since", "1h", "--limit", "500", "--json")
    )
    by_id = {r["request_id"]: r for r in listed["records"]}
    assert answers.keys() <= by_id.keys()
    assert by_id["after-0"]["inputs"][0]["shape"] == [1, 16, 4]
    text = await _mlops(data_dir, "request-log", "fraud", "--limit", "2")
    assert "fraud-model v1" in text and "windows FP32[1, 16, 4]" in text
    lowered = await _mlops(data_dir, "update", "fraud", "--log-sample-rate", "0.25")
    assert "0.25 of requests" in lowered
