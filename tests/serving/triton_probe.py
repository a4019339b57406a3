"""Drives a worker with Triton's own clients and prints what they saw as JSON.

Runs in a process of its own: tritonclient registers Triton's `inference` proto package, which
collides with ours in one process's protobuf descriptor pool.

    python -m tests.serving.triton_probe <grpc host:port> <rest host:port> <token>
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as aiogrpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

WINDOWS = np.random.default_rng(7).normal(size=(3, 16, 4)).astype(np.float32)


def _grpc(address: str, token: str) -> dict[str, Any]:
    client = grpcclient.InferenceServerClient(address)
    seen: dict[str, Any] = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready("public-anomaly"),
        "absent_ready": client.is_model_ready("absent"),
        "server": client.get_server_metadata(as_json=True),
        "metadata": client.get_model_metadata("public-anomaly", as_json=True),
    }
    tensor = grpcclient.InferInput("windows", list(WINDOWS.shape), "FP32")
    tensor.set_data_from_numpy(WINDOWS)
    result = client.infer("public-anomaly", [tensor], outputs=[grpcclient.InferRequestedOutput("errors")])
    seen["errors"] = result.as_numpy("errors").tolist()
    authed = client.infer("anomaly", [tensor], headers={"authorization": f"Bearer {token}"})
    seen["authed_errors"] = authed.as_numpy("errors").tolist()
    seen["unauthenticated"] = _status(lambda: client.infer("anomaly", [tensor]))
    wrong = grpcclient.InferInput("windows", [3, 16, 2], "FP32")
    wrong.set_data_from_numpy(WINDOWS[:, :, :2].copy())
    seen["wrong_shape"] = _status(lambda: client.infer("public-anomaly", [wrong]))
    client.close()
    return seen


def _http(address: str, token: str) -> dict[str, Any]:
    client = httpclient.InferenceServerClient(address)
    seen: dict[str, Any] = {
        "live": client.is_server_live(),
        "model_ready": client.is_model_ready("public-anomaly"),
        "metadata": client.get_model_metadata("public-anomaly"),
    }
    for binary in (True, False):
        tensor = httpclient.InferInput("windows", list(WINDOWS.shape), "FP32")
        tensor.set_data_from_numpy(WINDOWS, binary_data=binary)
        output = httpclient.InferRequestedOutput("errors", binary_data=binary)
        result = client.infer("public-anomaly", [tensor], outputs=[output])
        seen[f"errors_binary_{binary}"] = result.as_numpy("errors").tolist()
    tensor = httpclient.InferInput("windows", list(WINDOWS.shape), "FP32")
    tensor.set_data_from_numpy(WINDOWS)
    # No outputs named: the client asks for every output in binary.
    seen["all_outputs"] = client.infer("public-anomaly", [tensor]).as_numpy("errors").tolist()
    authed = client.infer("anomaly", [tensor], headers={"Authorization": f"Bearer {token}"})
    seen["authed_errors"] = authed.as_numpy("errors").tolist()
    seen["unauthenticated"] = _status(lambda: client.infer("anomaly", [tensor]))
    client.close()
    return seen


async def _grpc_aio(address: str) -> list[Any]:
    async with aiogrpcclient.InferenceServerClient(address) as client:
        tensor = aiogrpcclient.InferInput("windows", list(WINDOWS.shape), "FP32")
        tensor.set_data_from_numpy(WINDOWS)
        results = await asyncio.gather(*(client.infer("public-anomaly", [tensor]) for _ in range(8)))
        return [r.as_numpy("errors").tolist() for r in results]


def _status(call: Any) -> str:
    try:
        call()
    except InferenceServerException as error:
        return f"{error.status()} {error.message()}"
    return "OK"


def main() -> None:
    grpc_address, rest_address, token = sys.argv[1:4]
    report = {
        "grpc": _grpc(grpc_address, token),
        "http": _http(rest_address, token),
        "grpc_aio": asyncio.run(_grpc_aio(grpc_address)),
    }
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
