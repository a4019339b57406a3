"""`python -m services.serving.worker` as a process: models named in its settings load at start,
answer, and the process stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from mlops.stack.ports import free_port
from tests.serving.conftest import Bundles

ROOT = Path(__file__).resolve().parents[2]


async def test_worker_process_serves_its_startup_models(bundles: Bundles) -> None:
    rest = free_port()
    env = {
        **os.environ,
        "MLOPS_INFERENCE_REST_PORT": str(rest),
        "MLOPS_INFERENCE_GRPC_PORT": str(free_port()),
        "MLOPS_INFERENCE_METRICS_PORT": str(free_port()),
        "MLOPS_INFERENCE_AUTH": "false",
        "MLOPS_INFERENCE_DEVICE": "cpu",
        "MLOPS_INFERENCE_MODELS": f"detector={bundles.anomaly},digits={bundles.image}",
        "MLOPS_INFERENCE_MAX_BATCH_SIZE": "8",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.serving.worker", env=env, cwd=ROOT, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{rest}") as client:
            async with asyncio.timeout(60):
                while True:
                    try:
                        if (await client.get("/v2/models/digits/ready")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.2)
            assert (await client.get("/v2/models/detector/ready")).status_code == 200
            body = {
                "inputs": [{"name": "image", "datatype": "FP32", "shape": [1, 1, 8, 8], "data": [0.5] * 64}]
            }
            reply = await client.post("/v2/models/digits/infer", json=body)
            assert reply.status_code == 200, reply.text
            assert reply.json()["outputs"][0]["shape"] == [1, 10]
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()[-2000:]
