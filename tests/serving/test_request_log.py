"""Sampled request/response logging against a real worker and a real object store (SeaweedFS): off
unless a deployment asks, every request at rate 1 (REST, gRPC and the predict endpoint) with its inputs
and answers, a plausible fraction at rate 0.5, the buffer's bound and the payload cap, and an object
store that is down costing no request anything."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import grpc
import httpx
import numpy as np
from prometheus_client import CollectorRegistry

from mlops.api.inference import grpc_service_pb2 as pb
from mlops.api.inference import grpc_service_pb2_grpc as pb_grpc
from mlops.kernel.objectstore import ObjectStore
from mlops.kernel.settings import S3Settings
from mlops.stack.ports import free_port
from services.serving.inference.auth import InvokeAuthorizer
from services.serving.request_logs import PREFIX, RequestLogReader
from services.serving.worker.replica import ModelSpec
from services.serving.worker.request_log import LogPolicy, RequestLogger
from tests.serving.conftest import Bundles, RunningWorker, running_worker

WINDOWS = np.random.default_rng(5).normal(size=(1, 16, 4)).astype(np.float32)
MODEL = "scores"
KEY = re.compile(
    rf"^{PREFIX}/{MODEL}/\d{{4}}/\d{{2}}/\d{{2}}/\d{{2}}/\d{{8}}T\d{{6}}Z-w-test-[0-9a-f]{{8}}\.jsonl\.gz$"
)


def _policy(rate: float = 1.0, cap: int = 64 * 1024) -> LogPolicy:
    return LogPolicy(MODEL, 4, "anomaly-model", 7, rate, cap)


def _logger(
    store: ObjectStore, *, flush_records: int = 1000, max_buffer_records: int = 10_000
) -> RequestLogger:
    # Written only when closed (or the buffer's flush count is reached): the test decides when.
    return RequestLogger(
        store,
        "w-test",
        registry=CollectorRegistry(),
        flush_seconds=3600,
        flush_records=flush_records,
        max_buffer_records=max_buffer_records,
    )


@contextlib.asynccontextmanager
async def _worker(bundles: Bundles, log: RequestLogger) -> AsyncIterator[RunningWorker]:
    spec = ModelSpec(MODEL, str(bundles.anomaly), version="4", public=True, device="cpu", threads=1)
    log.start()
    async with running_worker([spec], InvokeAuthorizer(None), request_log=log) as worker:
        yield worker


def _rest_body(request_id: str) -> dict:
    tensor = {"name": "windows", "datatype": "FP32", "shape": [1, 16, 4], "data": WINDOWS.ravel().tolist()}
    return {"id": request_id, "inputs": [tensor]}


def _grpc_request(request_id: str) -> pb.ModelInferRequest:
    tensor = pb.ModelInferRequest.InferInputTensor(name="windows", datatype="FP32", shape=[1, 16, 4])
    return pb.ModelInferRequest(
        model_name=MODEL, id=request_id, inputs=[tensor], raw_input_contents=[WINDOWS.tobytes()]
    )


async def _grpc_calls(worker: RunningWorker, count: int) -> None:
    async with grpc.aio.insecure_channel(worker.grpc) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        for index in range(count):
            await stub.ModelInfer(_grpc_request(f"g-{index}"))


def _count(log: RequestLogger, outcome: str) -> float:
    return log.records.labels(outcome)._value.get()


async def _keys(store: ObjectStore) -> list[str]:
    return [info.key async for info in store.iter_objects(PREFIX + "/")]


async def test_nothing_is_logged_unless_the_deployment_asks(
    bundles: Bundles, object_store: ObjectStore
) -> None:
    log = _logger(object_store)
    async with _worker(bundles, log) as worker, httpx.AsyncClient(base_url=worker.rest) as client:
        for index in range(5):
            reply = await client.post(f"/v2/models/{MODEL}/infer", json=_rest_body(f"q-{index}"))
            assert reply.status_code == 200, reply.text
        await _grpc_calls(worker, 5)
    await log.close()
    assert await _keys(object_store) == []
    assert _count(log, "written") == 0


async def test_every_request_is_logged_at_rate_one(bundles: Bundles, object_store: ObjectStore) -> None:
    log = _logger(object_store)
    log.set_policies({MODEL: _policy()})
    async with _worker(bundles, log) as worker, httpx.AsyncClient(base_url=worker.rest) as client:
        reply = await client.post(f"/v2/models/{MODEL}/infer", json=_rest_body("q-1"))
        assert reply.status_code == 200, reply.text
        answered = reply.json()["outputs"][0]
        await _grpc_calls(worker, 1)
        predicted = await client.post(f"/v2/models/{MODEL}/predict", json={"input": [[0.5] * 4] * 16})
        assert predicted.status_code == 200, predicted.text
    await log.close()

    (key,) = await _keys(object_store)
    assert KEY.match(key), key
    page = await RequestLogReader(object_store).page(MODEL)
    rest, rpc, predict = page.records
    assert page.next_page_token == ""
    for record in page.records:
        assert (record["deployment"], record["revision"], record["model"], record["model_version"]) == (
            MODEL,
            4,
            "anomaly-model",
            7,
        )
        assert record["worker_id"] == "w-test" and record["latency_ms"] > 0 and not record["truncated"]
    assert (rest["protocol"], rest["endpoint"], rest["request_id"]) == ("rest", "infer", "q-1")
    assert (rpc["protocol"], rpc["endpoint"], rpc["request_id"]) == ("grpc", "infer", "g-0")
    (sent,) = rest["inputs"]
    assert (sent["name"], sent["datatype"], sent["shape"]) == ("windows", "FP32", [1, 16, 4])
    np.testing.assert_array_equal(np.array(sent["data"], dtype=np.float32), WINDOWS.ravel())
    (output,) = rest["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == (
        answered["name"],
        answered["datatype"],
        answered["shape"],
    )
    np.testing.assert_allclose(output["data"], answered["data"], rtol=1e-6)
    assert rpc["inputs"] == rest["inputs"]
    assert (predict["protocol"], predict["endpoint"]) == ("rest", "predict")
    assert predict["inputs"] == [[[0.5] * 4] * 16]
    assert predict["outputs"] == predicted.json()["predictions"]
    assert predict["request_id"]  # made up: the predict endpoint takes none

    first = await RequestLogReader(object_store).page(MODEL, page_size=2)
    second = await RequestLogReader(object_store).page(MODEL, page_token=first.next_page_token)
    assert [r["request_id"] for r in first.records + second.records] == [
        r["request_id"] for r in page.records
    ]
    assert second.next_page_token == ""


async def test_half_the_requests_at_rate_one_half(bundles: Bundles, object_store: ObjectStore) -> None:
    log = _logger(object_store)
    log.set_policies({MODEL: _policy(rate=0.5)})
    async with _worker(bundles, log) as worker:
        await _grpc_calls(worker, 400)
    await log.close()
    records = (await RequestLogReader(object_store).page(MODEL, page_size=1000)).records
    # Binomial(400, 0.5): 200 +- 10; bounds six deviations wide never fail by chance.
    assert 140 <= len(records) <= 260
    assert _count(log, "written") == len(records)
    assert len({r["request_id"] for r in records}) == len(records)


async def test_a_full_buffer_drops_and_a_large_payload_is_logged_without_data(
    bundles: Bundles, object_store: ObjectStore
) -> None:
    log = _logger(object_store, max_buffer_records=3, flush_records=1000)
    # One request carries 256 input bytes and 64 output bytes: over a 100-byte cap.
    log.set_policies({MODEL: _policy(cap=100)})
    async with _worker(bundles, log) as worker:
        await _grpc_calls(worker, 10)
    await log.close()
    assert (_count(log, "written"), _count(log, "buffer_full")) == (3, 7)
    records = (await RequestLogReader(object_store).page(MODEL)).records
    assert [r["request_id"] for r in records] == ["g-0", "g-1", "g-2"]
    assert all(r["truncated"] and r["inputs"] is None and r["outputs"] is None for r in records)


async def test_an_unreachable_object_store_fails_no_request(bundles: Bundles) -> None:
    nowhere = ObjectStore(S3Settings(endpoint=f"127.0.0.1:{free_port()}", bucket="logs"))
    log = _logger(nowhere, flush_records=5)
    log.set_policies({MODEL: _policy()})
    async with _worker(bundles, log) as worker, httpx.AsyncClient(base_url=worker.rest) as client:
        for index in range(12):
            reply = await client.post(f"/v2/models/{MODEL}/infer", json=_rest_body(f"q-{index}"))
            assert reply.status_code == 200, reply.text
    await log.close()
    assert _count(log, "written") == 0
    assert _count(log, "write_failed") + _count(log, "buffer_full") == 12
    assert log.write_errors._value.get() >= 1


class _DeadPool(Executor):
    """An encoder process that died: every submit is refused."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        raise BrokenProcessPool("the encoder process is gone")


async def test_a_dead_encoder_process_falls_back_to_a_thread(object_store: ObjectStore) -> None:
    log = RequestLogger(object_store, "w-test", registry=CollectorRegistry(), encoder=_DeadPool())
    log.set_policies({MODEL: _policy()})
    outputs = {"errors": np.zeros((1, 16), dtype=np.float32)}
    for index in range(3):
        log.offer_infer(MODEL, f"d-{index}", {"windows": WINDOWS}, outputs, time.perf_counter(), "grpc")
    await log.close()
    assert _count(log, "written") == 3 and log.encoder is None
    records = (await RequestLogReader(object_store).page(MODEL)).records
    assert [r["request_id"] for r in records] == ["d-0", "d-1", "d-2"]
