"""Triton's tritonclient (gRPC, gRPC aio and HTTP) works unchanged against a real worker."""

from __future__ import annotations

import asyncio
import json
import sys

import numpy as np

from tests.integration.test_grpc_auth import SCIENTIST
from tests.serving.conftest import RunningWorker

WINDOWS = np.random.default_rng(7).normal(size=(3, 16, 4)).astype(np.float32)


async def test_tritonclient_grpc_and_http(worker: RunningWorker) -> None:
    probe = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.serving.triton_probe",
        worker.grpc,
        worker.rest.removeprefix("http://"),
        SCIENTIST,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(probe.communicate(), 120)
    assert probe.returncode == 0, stderr.decode()[-3000:]
    seen = json.loads(stdout)
    expected = worker.host.replica("public-anomaly").predictor.run_tensors({"windows": WINDOWS})["errors"]

    grpc = seen["grpc"]
    assert (grpc["live"], grpc["ready"], grpc["model_ready"], grpc["absent_ready"]) == (
        True,
        True,
        True,
        False,
    )
    assert grpc["server"]["name"] == "mlops"
    assert grpc["metadata"]["inputs"] == [{"name": "windows", "datatype": "FP32", "shape": ["-1", "16", "4"]}]
    for answer in (grpc["errors"], grpc["authed_errors"], *seen["grpc_aio"]):
        np.testing.assert_allclose(answer, expected, rtol=1e-6)
    assert grpc["unauthenticated"].startswith("StatusCode.UNAUTHENTICATED")
    assert grpc["wrong_shape"].startswith("StatusCode.INVALID_ARGUMENT")
    assert "shape [3, 16, 2]" in grpc["wrong_shape"]

    http = seen["http"]
    assert http["live"] and http["model_ready"]
    assert http["metadata"]["inputs"] == [{"name": "windows", "datatype": "FP32", "shape": [-1, 16, 4]}]
    for key in ("errors_binary_True", "errors_binary_False", "all_outputs", "authed_errors"):
        np.testing.assert_allclose(http[key], expected, rtol=1e-6)
    assert "token" in http["unauthenticated"]
