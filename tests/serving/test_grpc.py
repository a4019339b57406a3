"""KServe V2 over gRPC against a real worker on loopback: inference, input checks, authentication,
metrics, and a hot swap under a steady 200 requests per second."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import httpx
import numpy as np
import pytest

from mlops.api.inference import grpc_service_pb2 as pb
from mlops.api.inference import grpc_service_pb2_grpc as pb_grpc
from services.serving.worker.replica import ModelSpec
from tests.integration.test_grpc_auth import ADMIN, SCIENTIST, VIEWER
from tests.serving.conftest import Bundles, RunningWorker

WINDOWS = np.random.default_rng(1).normal(size=(2, 16, 4)).astype(np.float32)


@pytest.fixture
async def stub(worker: RunningWorker) -> AsyncIterator[pb_grpc.GRPCInferenceServiceStub]:
    async with grpc.aio.insecure_channel(worker.grpc) as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


def _request(
    model: str, array: np.ndarray = WINDOWS, *, raw: bool = True, **overrides
) -> pb.ModelInferRequest:
    tensor = pb.ModelInferRequest.InferInputTensor(
        name=overrides.pop("name", "windows"),
        datatype=overrides.pop("datatype", "FP32"),
        shape=overrides.pop("shape", list(array.shape)),
    )
    request = pb.ModelInferRequest(model_name=model, id="r-1", inputs=[tensor])
    if raw:
        request.raw_input_contents.append(array.tobytes())
    else:
        tensor.contents.fp32_contents.extend(array.reshape(-1).tolist())
        request.inputs[0].CopyFrom(tensor)
    return request


def _bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


async def test_infer_with_raw_and_typed_contents_answers_raw_outputs(
    stub: pb_grpc.GRPCInferenceServiceStub, worker: RunningWorker
) -> None:
    expected = worker.host.replica("public-anomaly").predictor.run_tensors({"windows": WINDOWS})["errors"]
    for raw in (True, False):
        response = await stub.ModelInfer(_request("public-anomaly", raw=raw))
        assert (response.model_name, response.model_version, response.id) == ("public-anomaly", "1", "r-1")
        (output,) = response.outputs
        assert (output.name, output.datatype, list(output.shape)) == ("errors", "FP32", [2, 16])
        answer = np.frombuffer(response.raw_output_contents[0], dtype=np.float32).reshape(2, 16)
        np.testing.assert_allclose(answer, expected, rtol=1e-6)
    metadata = await stub.ModelMetadata(pb.ModelMetadataRequest(name="public-anomaly"))
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [
        ("windows", "FP32", [-1, 16, 4])
    ]
    assert (await stub.ModelReady(pb.ModelReadyRequest(name="image"))).ready


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"shape": [2, 16, 5]}, "shape"),
        ({"shape": [2, 64]}, "shape"),
        ({"datatype": "FP64", "array": WINDOWS.astype(np.float64)}, "datatype FP64"),
        ({"name": "other"}, "unknown input"),
        ({"shape": [2, 16, 3]}, "bytes of data"),
        ({"array": np.zeros((5000, 16, 4), np.float32)}, "exceeds"),
    ],
)
async def test_bad_inputs_are_invalid_argument_with_the_reason(
    stub: pb_grpc.GRPCInferenceServiceStub, overrides: dict, reason: str
) -> None:
    array = overrides.pop("array", WINDOWS)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ModelInfer(_request("public-anomaly", array, **overrides))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason in caught.value.details()


async def test_a_missing_input_and_an_unknown_model(stub: pb_grpc.GRPCInferenceServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ModelInfer(pb.ModelInferRequest(model_name="public-anomaly"))
    assert (
        caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        and "missing input windows" in caught.value.details()
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ModelInfer(_request("absent"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_inference_needs_a_token_with_invoke_unless_public(
    stub: pb_grpc.GRPCInferenceServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ModelInfer(_request("anomaly"))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ModelInfer(_request("anomaly"), metadata=_bearer("mlops_nobody_wrong"))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ModelInfer(_request("anomaly"), metadata=_bearer(VIEWER))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    for token in (SCIENTIST, ADMIN):
        response = await stub.ModelInfer(_request("anomaly"), metadata=_bearer(token))
        assert response.outputs[0].name == "errors"


async def test_the_data_plane_offers_no_load_or_unload(
    stub: pb_grpc.GRPCInferenceServiceStub, worker: RunningWorker
) -> None:
    # Triton's repository RPCs do not exist here, over gRPC or REST.
    async with grpc.aio.insecure_channel(worker.grpc) as channel:
        load = channel.unary_unary("/inference.GRPCInferenceService/RepositoryModelLoad")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await load(b"")
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    async with httpx.AsyncClient() as client:
        for path in ("/v2/repository/models/anomaly/load", "/v2/repository/models/anomaly/unload"):
            assert (await client.post(f"{worker.rest}{path}")).status_code == 404


async def test_batched_requests_and_per_model_metrics(
    stub: pb_grpc.GRPCInferenceServiceStub, worker: RunningWorker
) -> None:
    image = np.random.default_rng(2).random((1, 1, 8, 8), dtype=np.float32)
    request = pb.ModelInferRequest(
        model_name="image",
        inputs=[pb.ModelInferRequest.InferInputTensor(name="image", datatype="FP32", shape=[1, 1, 8, 8])],
        raw_input_contents=[image.tobytes()],
    )
    responses = await asyncio.gather(*(stub.ModelInfer(request) for _ in range(32)))
    probabilities = [np.frombuffer(r.raw_output_contents[0], np.float32) for r in responses]
    assert all(np.allclose(p, probabilities[0]) and abs(p.sum() - 1) < 1e-4 for p in probabilities)
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.ModelInfer(_request("image"))
    summary = worker.metrics.summary("image")
    assert (summary.requests, summary.errors) == (33, 1)
    assert summary.mean_batch_size >= 1 and summary.latency_p99_ms > 0
    async with httpx.AsyncClient() as client:
        text = (await client.get(worker.metrics_url)).text
    assert (
        'mlops_inference_requests_total{code="OK",method="infer",model="image",protocol="grpc"} 32.0' in text
    )
    assert 'mlops_inference_requests_total{code="INVALID_ARGUMENT",method="infer",model="image"' in text
    for family in (
        "mlops_inference_request_seconds_bucket",
        "mlops_inference_batch_size_bucket",
        "mlops_inference_queue_seconds_bucket",
    ):
        assert f"{family}{{" in text


async def test_hot_swap_at_200_requests_per_second_fails_none(
    stub: pb_grpc.GRPCInferenceServiceStub, worker: RunningWorker, bundles: Bundles
) -> None:
    versions: list[str] = []
    failures: list[grpc.aio.AioRpcError] = []

    async def one() -> None:
        try:
            versions.append((await stub.ModelInfer(_request("public-anomaly"))).model_version)
        except grpc.aio.AioRpcError as error:
            failures.append(error)

    async def steady_load(seconds: float) -> None:
        # 200 per second, each request on its own schedule, so a slow answer does not slow the load.
        tasks = []
        for _ in range(int(seconds * 200)):
            tasks.append(asyncio.create_task(one()))
            await asyncio.sleep(1 / 200)
        await asyncio.gather(*tasks)

    load = asyncio.create_task(steady_load(2.0))
    await asyncio.sleep(0.5)
    status = await worker.host.load(
        ModelSpec(
            "public-anomaly", str(bundles.anomaly_v2), version="2", public=True, device="cpu", threads=1
        )
    )
    assert status.state == "ready", status.reason
    await load
    assert failures == []
    assert versions[0] == "1" and versions[-1] == "2" and len(versions) == 400
