"""KServe V2 over REST against a real worker: JSON and binary tensors, the scenario-level predict
endpoint through the algorithm's own pre/post-processing, input checks and authentication."""

from __future__ import annotations

import base64
import json

import httpx
import numpy as np
import pytest

from mlops.algorithms.builtin import builtin_algorithms
from tests.integration.test_grpc_auth import SCIENTIST, VIEWER
from tests.serving.conftest import ANOMALY, IMAGE, RunningWorker

WINDOWS = np.random.default_rng(3).normal(size=(1, 16, 4)).astype(np.float32)


def _infer_body(array: np.ndarray = WINDOWS, **tensor) -> dict:
    return {
        "id": "q",
        "inputs": [
            {
                "name": "windows",
                "datatype": "FP32",
                "shape": list(array.shape),
                "data": array.reshape(-1).tolist(),
            }
            | tensor
        ],
    }


async def test_json_inference(worker: RunningWorker) -> None:
    expected = worker.host.replica("public-anomaly").predictor.run_tensors({"windows": WINDOWS})["errors"]
    async with httpx.AsyncClient(base_url=worker.rest) as client:
        reply = await client.post("/v2/models/public-anomaly/infer", json=_infer_body())
        assert reply.status_code == 200, reply.text
        document = reply.json()
        assert (document["model_name"], document["model_version"], document["id"]) == (
            "public-anomaly",
            "1",
            "q",
        )
        (output,) = document["outputs"]
        assert (output["name"], output["datatype"], output["shape"]) == ("errors", "FP32", [1, 16])
        np.testing.assert_allclose(np.array(output["data"]).reshape(1, 16), expected, rtol=1e-6)
        metadata = (await client.get("/v2/models/public-anomaly")).json()
        assert metadata["inputs"] == [{"name": "windows", "datatype": "FP32", "shape": [-1, 16, 4]}]
        assert (await client.get("/v2/models/public-anomaly/versions/1/ready")).status_code == 200


async def test_binary_tensor_extension(worker: RunningWorker) -> None:
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "windows",
                    "datatype": "FP32",
                    "shape": [1, 16, 4],
                    "parameters": {"binary_data_size": WINDOWS.nbytes},
                }
            ],
            "outputs": [{"name": "errors", "parameters": {"binary_data": True}}],
        }
    ).encode()
    async with httpx.AsyncClient(base_url=worker.rest) as client:
        reply = await client.post(
            "/v2/models/public-anomaly/infer",
            content=header + WINDOWS.tobytes(),
            headers={
                "Inference-Header-Content-Length": str(len(header)),
                "Content-Type": "application/octet-stream",
            },
        )
    assert reply.status_code == 200, reply.text
    split = int(reply.headers["inference-header-content-length"])
    document = json.loads(reply.content[:split])
    assert document["outputs"][0]["parameters"] == {"binary_data_size": 64}
    assert np.frombuffer(reply.content[split:], np.float32).shape == (16,)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_infer_body(shape=[1, 16, 3]), "values for shape"),
        (_infer_body(datatype="INT32"), "datatype INT32"),
        (_infer_body(name="other"), "unknown input"),
        ({"inputs": []}, "missing input windows"),
        ({"inputs": "x"}, "list of tensors"),
        ({"inputs": [{"name": "windows", "datatype": "FP32", "shape": [1, 16, 4]}]}, "neither data"),
    ],
)
async def test_bad_inputs_are_400_with_the_reason(worker: RunningWorker, body: dict, reason: str) -> None:
    async with httpx.AsyncClient(base_url=worker.rest) as client:
        reply = await client.post("/v2/models/public-anomaly/infer", json=body)
    assert reply.status_code == 400
    assert reason in reply.json()["error"]


async def test_oversize_and_malformed_bodies(worker: RunningWorker) -> None:
    async with httpx.AsyncClient(base_url=worker.rest) as client:
        big = await client.post("/v2/models/public-anomaly/infer", content=b"x" * (2 * 1024 * 1024))
        assert big.status_code == 400 and "exceeds" in big.json()["error"]
        bad = await client.post("/v2/models/public-anomaly/infer", content=b"{nope")
        assert bad.status_code == 400 and "not JSON" in bad.json()["error"]
        absent = await client.post("/v2/models/absent/infer", json=_infer_body())
        assert absent.status_code == 404


async def test_rest_authentication(worker: RunningWorker) -> None:
    async with httpx.AsyncClient(base_url=worker.rest) as client:
        assert (await client.post("/v2/models/anomaly/infer", json=_infer_body())).status_code == 401
        viewer = {"Authorization": f"Bearer {VIEWER}"}
        assert (
            await client.post("/v2/models/anomaly/infer", json=_infer_body(), headers=viewer)
        ).status_code == 403
        scientist = {"Authorization": f"Bearer {SCIENTIST}"}
        assert (
            await client.post("/v2/models/anomaly/infer", json=_infer_body(), headers=scientist)
        ).status_code == 200
        predict = await client.post("/v2/models/anomaly/predict", json={"input": [[0.0] * 4] * 16})
        assert predict.status_code == 401


async def test_predict_runs_the_scenarios_own_processing(worker: RunningWorker) -> None:
    algorithms = {a.id: a for a in builtin_algorithms()}
    series = algorithms[ANOMALY].example_input()
    png = algorithms[IMAGE].example_input()
    local_anomaly = worker.host.replica("public-anomaly").predictor.predict_one(series)
    local_image = worker.host.replica("image").predictor.predict_one(png)
    async with httpx.AsyncClient(base_url=worker.rest) as client:
        reply = await client.post("/v2/models/public-anomaly/predict", json={"input": series})
        assert reply.status_code == 200, reply.text
        (result,) = reply.json()["predictions"]
        assert result["flags"] == local_anomaly["flags"]
        np.testing.assert_allclose(result["scores"], local_anomaly["scores"], rtol=1e-5)
        images = {"instances": [{"b64": base64.b64encode(png).decode()}] * 3}
        reply = await client.post("/v2/models/image/predict", json=images)
        assert reply.status_code == 200, reply.text
        predictions = reply.json()["predictions"]
        assert len(predictions) == 3 and all(p["label"] == local_image["label"] for p in predictions)
        wrong = await client.post("/v2/models/public-anomaly/predict", json={"input": [[1.0, 2.0]]})
        assert wrong.status_code == 400
        empty = await client.post("/v2/models/image/predict", json={"instances": []})
        assert empty.status_code == 400
