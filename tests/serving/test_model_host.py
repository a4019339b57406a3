"""Hosting models: load (from a path or the object store), metadata, hot swap under load, failed loads
and unloading, against real onnxruntime sessions."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator, Callable

import numpy as np
import pytest

from mlops.algorithms.bundle import ModelBundle
from mlops.kernel.objectstore import ObjectStore
from services.serving.inference.auth import InvokeAuthorizer
from services.serving.inference.handler import InferenceHandler
from services.serving.inference.metrics import InferenceMetrics
from services.serving.inference.types import InferenceRequest, ModelNotFound, Tensor
from services.serving.worker.model_host import OnnxModelHost
from services.serving.worker.replica import ModelSpec
from tests.serving.conftest import Bundles


def _windows(rows: int = 1) -> Tensor:
    array = np.random.default_rng(0).normal(size=(rows, 16, 4)).astype(np.float32)
    return Tensor("windows", "FP32", array.shape, array)


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(30):
        while not condition():  # noqa: ASYNC110  (the condition is a plain counter)
            await asyncio.sleep(0.01)


@pytest.fixture
async def host() -> AsyncIterator[OnnxModelHost]:
    host = OnnxModelHost(pool_threads=1)
    yield host
    await host.close()


async def test_load_reports_provider_and_serves_signature_metadata(
    host: OnnxModelHost, bundles: Bundles
) -> None:
    status = await host.load(ModelSpec("anomaly", str(bundles.anomaly), version="3", device="cpu", threads=1))
    assert (status.state, status.serving_version, status.provider) == ("ready", "3", "CPUExecutionProvider")
    metadata = host.model_metadata("anomaly")
    assert metadata.versions == ("3",)
    assert [(t.name, t.datatype, t.shape) for t in metadata.inputs] == [("windows", "FP32", (-1, 16, 4))]
    assert [(t.name, t.shape) for t in metadata.outputs] == [("errors", (-1, 16))]
    assert host.model_ready("anomaly") and host.model_ready("anomaly", "3")
    assert not host.model_ready("anomaly", "2")
    with pytest.raises(ModelNotFound):
        host.model_metadata("other")


async def test_load_from_an_object_store_blob(
    host: OnnxModelHost, bundles: Bundles, object_store: ObjectStore
) -> None:
    blob = await object_store.put_bytes(ModelBundle.load(bundles.anomaly).to_zip())
    host.source.store = object_store
    status = await host.load(ModelSpec("anomaly", f"blob:{blob.sha256}", device="cpu"))
    assert status.state == "ready", status.reason


async def test_a_failed_load_leaves_the_previous_version_serving(
    host: OnnxModelHost, bundles: Bundles, broken_bundle
) -> None:
    await host.load(ModelSpec("anomaly", str(bundles.anomaly), version="1", device="cpu"))
    failed = await host.load(ModelSpec("anomaly", str(broken_bundle), version="2", device="cpu"))
    assert failed.state == "failed" and failed.serving_version == "1"
    assert "onnx" in failed.reason.lower() or "protobuf" in failed.reason.lower(), failed.reason
    assert host.model_metadata("anomaly").versions == ("1",)
    missing = await host.load(ModelSpec("other", "/nonexistent/bundle", device="cpu"))
    assert missing.state == "failed" and "no bundle" in missing.reason and not host.model_ready("other")


async def test_hot_swap_under_steady_load_fails_no_request(host: OnnxModelHost, bundles: Bundles) -> None:
    handler = InferenceHandler(host, InvokeAuthorizer(None), InferenceMetrics())
    await host.load(ModelSpec("anomaly", str(bundles.anomaly), version="1", device="cpu", public=True))
    old_session = weakref.ref(host.replica("anomaly").session)
    served: list[str] = []
    failures: list[BaseException] = []
    stop = asyncio.Event()

    async def client() -> None:
        while not stop.is_set():
            try:
                response = await handler.infer(InferenceRequest("anomaly", inputs=[_windows()]), "test")
                served.append(response.model_version)
            except Exception as error:
                failures.append(error)
            await asyncio.sleep(0.001)

    clients = [asyncio.create_task(client()) for _ in range(4)]
    await _until(lambda: len(served) >= 20)
    status = await host.load(
        ModelSpec("anomaly", str(bundles.anomaly_v2), version="2", device="cpu", public=True)
    )
    assert status.state == "ready"
    swapped_at = len(served)
    await _until(lambda: len(served) >= swapped_at + 20)
    stop.set()
    await asyncio.gather(*clients)
    assert failures == []
    assert served[0] == "1" and served[-1] == "2"
    # Once a request saw version 2, none saw version 1 again.
    first_new = served.index("2")
    assert set(served[first_new:]) == {"2"}
    gc.collect()
    assert old_session() is None


async def test_unload_drops_the_session(host: OnnxModelHost, bundles: Bundles) -> None:
    await host.load(ModelSpec("anomaly", str(bundles.anomaly), device="cpu"))
    session = weakref.ref(host.replica("anomaly").session)
    await host.unload("anomaly")
    gc.collect()
    assert session() is None
    assert not host.model_ready("anomaly")
    with pytest.raises(ModelNotFound):
        await host.unload("anomaly")


async def test_reconcile_hosts_exactly_the_assignments(
    host: OnnxModelHost, bundles: Bundles, broken_bundle
) -> None:
    a = ModelSpec("a", str(bundles.anomaly), device="cpu", replica_id="r1")
    b = ModelSpec("b", str(bundles.image), device="cpu", replica_id="r2")
    await host.reconcile([a, b])
    assert host.names() == ["a", "b"]
    broken = ModelSpec("b", str(broken_bundle), version="2", device="cpu", replica_id="r3")
    statuses = {s.name: s for s in await host.reconcile([broken])}
    assert host.names() == ["b"]
    assert statuses["b"].state == "failed" and statuses["b"].serving_version == "1"


async def test_cuda_asked_for_without_cuda_fails_with_the_reason(
    host: OnnxModelHost, bundles: Bundles
) -> None:
    from mlops.algorithms.runtime import cuda_driver_present

    if cuda_driver_present():
        pytest.skip("this machine has a CUDA driver")
    status = await host.load(ModelSpec("anomaly", str(bundles.anomaly), device="cuda"))
    assert status.state == "failed" and "CUDA" in status.reason
    auto = await host.load(ModelSpec("anomaly", str(bundles.anomaly), device="auto"))
    assert (auto.state, auto.provider) == ("ready", "CPUExecutionProvider")


async def test_a_batched_model_caps_its_batches_at_the_measured_size_and_answers_each_row(
    host: OnnxModelHost, bundles: Bundles
) -> None:
    from services.serving.inference.batching import DynamicBatcher
    from services.serving.worker.replica import Batching

    spec = ModelSpec(
        "anomaly", str(bundles.anomaly), device="cpu", threads=1, batching=Batching(max_batch_size=8)
    )
    assert (await host.load(spec)).state == "ready"
    replica = host.replica("anomaly")
    runner = replica.runner
    assert isinstance(runner, DynamicBatcher)
    assert 1 <= replica.preferred_batch_size <= 8 and runner.max_batch_size == replica.preferred_batch_size
    windows = [_windows() for _ in range(12)]
    answers = await asyncio.gather(*(runner.submit({"windows": w.array}) for w in windows))
    for window, (outputs, _) in zip(windows, answers, strict=True):
        alone = replica.predictor.run_tensors({"windows": window.array})
        np.testing.assert_allclose(outputs["errors"], alone["errors"], rtol=1e-5, atol=1e-6)
