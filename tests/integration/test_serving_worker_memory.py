"""Stop frees the worker's memory: a real serving worker process hosts a model holding a 200 MB
initializer, and its resident set comes back down once the control plane stops the deployment."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import onnx
import psutil
import pytest
from onnx import TensorProto, helper, numpy_helper

from mlops.algorithms.bundle import ModelBundle
from mlops.api.serving.v1 import serving_pb2 as pb
from mlops.stack.servers import NatsServer
from tests.integration.test_serving_control_worker import WINDOWS, ready_on, start_worker, until
from tests.serving.conftest import ANOMALY, _train
from tests.serving_control.harness import ControlPlane, start_control

MB = 1024 * 1024
# float32 values in the initializer: 200 MB that onnxruntime must keep for the model's lifetime.
LARGE_VALUES = 50_000_000


def with_large_initializer(bundle: ModelBundle, values: int) -> ModelBundle:
    """The bundle's model with a large initializer that every call reads.

    The graph adds `large[int(sum(inputs) * 0)]` (zero) to its first output: the index depends on the
    request, so onnxruntime cannot fold the initializer away at load time and must hold all of it.
    """
    model = onnx.load_from_string(bundle.onnx_model)
    graph = model.graph
    output = graph.output[0].name
    inner = f"{output}_before_large"
    for node in graph.node:
        node.output[:] = [inner if name == output else name for name in node.output]
    large = np.ones(values, dtype=np.float32)
    large[0] = 0.0
    graph.initializer.append(numpy_helper.from_array(large, "large"))
    graph.initializer.append(numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"))
    graph.node.extend(
        [
            helper.make_node("ReduceSum", [graph.input[0].name], ["input_sum"], keepdims=0),
            helper.make_node("Mul", ["input_sum", "zero"], ["input_zero"]),
            helper.make_node("Cast", ["input_zero"], ["large_index"], to=TensorProto.INT64),
            helper.make_node("Gather", ["large", "large_index"], ["large_value"]),
            helper.make_node("Add", [inner, "large_value"], [output]),
        ]
    )
    return dataclasses.replace(bundle, onnx_model=model.SerializeToString())


@pytest.fixture(scope="module")
def large_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("large")
    small = ModelBundle.load(_train(ANOMALY, 0, root / "small"))
    return with_large_initializer(small, LARGE_VALUES).save(root / "large")


@pytest.fixture
async def control(tmp_path: Path, nats_server: NatsServer, large_bundle: Path) -> AsyncIterator[ControlPlane]:
    async for plane in start_control(tmp_path, nats_server, {1: large_bundle}):
        yield plane


async def test_stop_gives_the_models_memory_back(control: ControlPlane) -> None:
    stub = control.stub
    worker, base = await start_worker(control, "w-memory")
    await until(lambda: _registered(control), within=60)
    process = psutil.Process(worker.pid)
    before = process.memory_info().rss

    await stub.Deploy(
        pb.DeployRequest(
            name="fraud",
            model_version=pb.ModelVersionRef(model="fraud-model", number=1),
            resources=pb.Resources(memory_bytes=512 * MB, threads=1),
            public=True,
        )
    )
    await until(lambda: ready_on(stub, "fraud", 1), within=120)
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        reply = await client.post("/v2/models/fraud/infer", json=WINDOWS)
    assert reply.status_code == 200, reply.text
    loaded = process.memory_info().rss
    initializer = LARGE_VALUES * 4
    assert loaded - before > initializer * 9 // 10, f"before {before // MB} MB, loaded {loaded // MB} MB"

    await stub.Stop(pb.GetDeploymentRequest(name="fraud"))
    after: list[int] = []

    async def given_back() -> bool:
        after.append(process.memory_info().rss)
        return after[-1] < loaded - initializer // 2

    # No timing: the worker unloads on its next heartbeat; the deadline is only a generous bound.
    with contextlib.suppress(AssertionError):
        await until(given_back, within=60)
    figures = f"before {before // MB} MB, loaded {loaded // MB} MB, after stop {after[-1] // MB} MB"
    assert after[-1] < loaded - initializer // 2, f"the memory did not come back: {figures}"


async def _registered(control: ControlPlane) -> bool:
    workers = await control.stub.ListWorkers(pb.ListWorkersRequest())
    return any(w.alive for w in workers.workers)
