"""Serving fixtures: two catalog models trained once per session (quick preset), and a real worker
on loopback ports with an identity service that knows a fixed set of tokens."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mlops.algorithms import TrainingContext, validate_parameters
from mlops.algorithms.builtin import builtin_algorithms
from mlops.kernel.identity_client import TokenVerifier
from mlops.stack.ports import free_port
from services.serving.inference.auth import InvokeAuthorizer
from services.serving.inference.metrics import InferenceMetrics
from services.serving.worker.main import serve
from services.serving.worker.model_host import OnnxModelHost
from services.serving.worker.replica import ModelSpec
from services.serving.worker.request_log import RequestLogger
from services.serving.worker.settings import ServingWorkerSettings
from tests.integration.test_grpc_auth import start_identity

ANOMALY = "anomaly-detection-autoencoder"
IMAGE = "image-classification-cnn"


def _train(algorithm_id: str, seed: int, directory: Path) -> Path:
    import torch

    algorithm = next(a for a in builtin_algorithms() if a.id == algorithm_id)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        params = validate_parameters(algorithm, {}, preset="quick")
        result = algorithm.train(algorithm.demo_dataset(), params, TrainingContext(seed=seed, device="cpu"))
    finally:
        torch.set_num_threads(previous)
    return result.bundle.save(directory)


@dataclass(frozen=True)
class Bundles:
    anomaly: Path
    anomaly_v2: Path
    image: Path


@pytest.fixture(scope="session")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Bundles:
    root = tmp_path_factory.mktemp("bundles")
    return Bundles(
        anomaly=_train(ANOMALY, 0, root / "anomaly"),
        anomaly_v2=_train(ANOMALY, 1, root / "anomaly-v2"),
        image=_train(IMAGE, 0, root / "image"),
    )


@pytest.fixture
def broken_bundle(tmp_path: Path, bundles: Bundles) -> Path:
    """A bundle whose ONNX file is garbage, with a manifest that matches it (so loading fails late)."""
    import hashlib
    import json
    import shutil

    target = tmp_path / "broken"
    shutil.copytree(bundles.anomaly, target)
    garbage = b"not an onnx model"
    (target / "model.onnx").write_bytes(garbage)
    manifest = json.loads((target / "bundle.json").read_text())
    manifest["onnx_sha256"] = hashlib.sha256(garbage).hexdigest()
    (target / "bundle.json").write_text(json.dumps(manifest))
    return target


@dataclass
class RunningWorker:
    settings: ServingWorkerSettings
    host: OnnxModelHost
    metrics: InferenceMetrics

    @property
    def grpc(self) -> str:
        return f"127.0.0.1:{self.settings.inference_grpc_port}"

    @property
    def rest(self) -> str:
        return f"http://127.0.0.1:{self.settings.inference_rest_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.inference_metrics_port}/metrics"


@contextlib.asynccontextmanager
async def running_worker(
    specs: list[ModelSpec], authorizer: InvokeAuthorizer, request_log: RequestLogger | None = None
) -> AsyncIterator[RunningWorker]:
    settings = ServingWorkerSettings(
        inference_rest_port=free_port(),
        inference_grpc_port=free_port(),
        inference_metrics_port=free_port(),
        inference_max_request_bytes=1024 * 1024,
    )
    host = OnnxModelHost(pool_threads=2)
    for spec in specs:
        status = await host.load(spec)
        assert status.state == "ready", status.reason
    metrics = InferenceMetrics()
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(settings, host, stop, authorizer=authorizer, metrics=metrics, request_log=request_log)
    )
    worker = RunningWorker(settings, host, metrics)
    async with httpx.AsyncClient() as client:
        for _ in range(100):
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(f"{worker.rest}/v2/health/ready")).status_code == 200:
                    break
            await asyncio.sleep(0.05)
    try:
        yield worker
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await host.close()


@pytest.fixture
async def identity_address() -> AsyncIterator[str]:
    server, address, _ = await start_identity()
    yield address
    await server.stop(0)


@pytest.fixture
async def worker(bundles: Bundles, identity_address: str) -> AsyncIterator[RunningWorker]:
    """`anomaly` needs a token, `public-anomaly` and `image` do not (image is batched)."""
    from services.serving.worker.replica import Batching

    specs = [
        ModelSpec("anomaly", str(bundles.anomaly), device="cpu", threads=1),
        ModelSpec("public-anomaly", str(bundles.anomaly), public=True, device="cpu", threads=1),
        ModelSpec(
            "image",
            str(bundles.image),
            public=True,
            device="cpu",
            threads=1,
            batching=Batching(max_batch_size=16, max_queue_delay=0.002),
        ),
    ]
    async with running_worker(specs, InvokeAuthorizer(TokenVerifier(identity_address))) as running:
        yield running
