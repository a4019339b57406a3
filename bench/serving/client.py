"""One load-generating client process: tritonclient's gRPC aio client, N concurrent callers.

    python bench/serving/client.py <host:port> <model> <input> <shape,comma,separated> <concurrency> \
        <warmup seconds> <seconds>

Prints {"count", "errors", "latencies_ms"} as JSON. Imports nothing of the platform: tritonclient's
`inference` proto package would collide with ours in one process.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import numpy as np
import tritonclient.grpc.aio as grpcclient


async def run(
    address: str, model: str, name: str, shape: list[int], concurrency: int, warmup: float, seconds: float
) -> dict:
    data = np.random.default_rng(0).random(shape, dtype=np.float32)
    latencies: list[float] = []
    errors = 0
    async with grpcclient.InferenceServerClient(address) as client:
        tensor = grpcclient.InferInput(name, shape, "FP32")
        tensor.set_data_from_numpy(data)
        start = time.perf_counter()
        measure_from = start + warmup
        stop_at = measure_from + seconds

        async def caller() -> None:
            nonlocal errors
            while True:
                began = time.perf_counter()
                if began >= stop_at:
                    return
                try:
                    await client.infer(model, [tensor])
                    failed = False
                except Exception:
                    failed = True
                ended = time.perf_counter()
                if began >= measure_from and ended <= stop_at:
                    if failed:
                        errors += 1
                    else:
                        latencies.append((ended - began) * 1000)

        await asyncio.gather(*(caller() for _ in range(concurrency)))
    return {"count": len(latencies), "errors": errors, "latencies_ms": latencies}


def main() -> None:
    address, model, name, shape, concurrency, warmup, seconds = sys.argv[1:8]
    result = asyncio.run(
        run(
            address,
            model,
            name,
            [int(d) for d in shape.split(",")],
            int(concurrency),
            float(warmup),
            float(seconds),
        )
    )
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
