"""The worker skeletons: the serving worker's KServe V2 endpoints and the training worker on Celery."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
import redis

import mlops
from mlops.api.inference import grpc_service_pb2 as pb
from mlops.api.inference import grpc_service_pb2_grpc as pb_grpc
from mlops.kernel.settings import KernelSettings
from mlops.stack.ports import free_port
from services.serving.worker.main import serve
from services.serving.worker.model_host import EmptyModelHost
from services.serving.worker.settings import ServingWorkerSettings
from services.training.celery_app import create_celery_app
from services.training.worker import heartbeat_key


@pytest.fixture
async def serving_worker() -> AsyncIterator[ServingWorkerSettings]:
    settings = ServingWorkerSettings(
        inference_rest_port=free_port(), inference_grpc_port=free_port(), inference_metrics_port=free_port()
    )
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, EmptyModelHost(), stop))
    async with httpx.AsyncClient() as client:
        for _ in range(100):
            try:
                if (
                    await client.get(f"http://127.0.0.1:{settings.inference_rest_port}/v2/health/live")
                ).is_success:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    yield settings
    stop.set()
    await asyncio.wait_for(task, 15)


async def test_serving_worker_speaks_kserve_v2_over_grpc(serving_worker: ServingWorkerSettings) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{serving_worker.inference_grpc_port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        assert (await stub.ServerLive(pb.ServerLiveRequest())).live
        assert (await stub.ServerReady(pb.ServerReadyRequest())).ready
        metadata = await stub.ServerMetadata(pb.ServerMetadataRequest())
        assert (metadata.name, metadata.version, list(metadata.extensions)) == (
            "mlops",
            mlops.__version__,
            ["binary_tensor_data"],
        )
        assert not (await stub.ModelReady(pb.ModelReadyRequest(name="absent"))).ready
        for call, request in (
            (stub.ModelMetadata, pb.ModelMetadataRequest(name="absent")),
            (stub.ModelInfer, pb.ModelInferRequest(model_name="absent")),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await call(request)
            assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_serving_worker_rest_and_metrics(serving_worker: ServingWorkerSettings) -> None:
    rest = f"http://127.0.0.1:{serving_worker.inference_rest_port}"
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{rest}/v2/health/live")).status_code == 200
        assert (await client.get(f"{rest}/v2/health/ready")).status_code == 200
        assert (await client.get(f"{rest}/v2")).json()["name"] == "mlops"
        assert (await client.get(f"{rest}/v2/models/absent/ready")).status_code == 404
        assert (await client.get(f"{rest}/v2/models/absent")).status_code == 404
        assert (await client.post(f"{rest}/v2/models/absent/infer", json={"inputs": []})).status_code == 404
        async with grpc.aio.insecure_channel(f"127.0.0.1:{serving_worker.inference_grpc_port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError):
                await pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(
                    pb.ModelInferRequest(model_name="m")
                )
        metrics = await client.get(f"http://127.0.0.1:{serving_worker.inference_metrics_port}/metrics")
    assert metrics.status_code == 200
    assert (
        'mlops_inference_requests_total{code="NOT_FOUND",method="infer",model="m",protocol="grpc"} 1.0'
        in (metrics.text)
    )


def test_training_worker_heartbeats_and_runs_ping(redis_url: str) -> None:
    worker_id = f"test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "MLOPS_REDIS_URL": redis_url,
        "MLOPS_WORKER_ID": worker_id,
        "MLOPS_WORKER_POOL": "cpu",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "services.training.worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    client = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + 30
        while (beat := client.get(heartbeat_key(worker_id))) is None:
            assert worker.poll() is None, worker.stderr.read().decode() if worker.stderr else ""
            assert time.monotonic() < deadline, "no heartbeat in 30 s"
            time.sleep(0.1)
        assert json.loads(beat) == {"worker_id": worker_id, "pool": "cpu", "pid": worker.pid}
        assert 0 < client.ttl(heartbeat_key(worker_id)) <= 15
        app = create_celery_app(KernelSettings(redis_url=redis_url))
        assert app.send_task("mlops.ping", queue="cpu").get(timeout=20) == "pong"
    finally:
        worker.terminate()
        assert worker.wait(20) == 0
    # A worker that stops cleanly says so at once rather than after its key's TTL.
    assert client.get(heartbeat_key(worker_id)) is None
