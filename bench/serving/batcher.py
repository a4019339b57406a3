"""The runners' own cost, without transport: requests/s through the worker's `Runner` (no batching) and
`DynamicBatcher` on one event loop, batch-1 requests from N coroutines, one onnxruntime thread per call
and a pool of two threads (the worker's defaults). Rounds alternate between the runners, so a drift in
the machine's load hits them alike.

    .venv/bin/python bench/serving/batcher.py [--models image image-rgb32] [--seconds 1] [--rounds 3]

Batching is measured at max batch 32 and at the size the worker picks for the model when it loads it
(`preferred_batch_size`: the cheapest per row). Models come from run.py's cache (trained if missing).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import uvloop

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import CACHE, CONCURRENCY, Model, train  # noqa: E402

from mlops.algorithms.bundle import ModelBundle  # noqa: E402
from mlops.algorithms.registry import AlgorithmRegistry  # noqa: E402
from services.serving.inference.batching import DynamicBatcher, Runner  # noqa: E402
from services.serving.worker.replica import (  # noqa: E402
    INLINE_BELOW_SECONDS,
    Batching,
    ModelSpec,
    build_replica,
)


async def _drive(runner: Runner, model: Model, concurrency: int, seconds: float) -> float:
    data = np.random.default_rng(0).random(model.input_shape, dtype=np.float32)
    stop_at = time.perf_counter() + seconds
    count = 0

    async def caller() -> None:
        nonlocal count
        while time.perf_counter() < stop_at:
            await runner.submit({model.input_name: data})
            count += 1

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    await runner.close()
    return count / seconds


def compare(model: Model, seconds: float, rounds: int) -> list[str]:
    spec = ModelSpec(model.name, str(model.bundle), device="cpu", threads=1, batching=Batching(32))
    replica, batch1 = build_replica(spec, ModelBundle.load(model.bundle), AlgorithmRegistry.discover())
    run, inline = replica.predictor.run_tensors, batch1 < INLINE_BELOW_SECONDS
    preferred = replica.preferred_batch_size
    pool = ThreadPoolExecutor(2, thread_name_prefix="inference")
    runners: dict[str, Callable[[], Runner]] = {
        "no batching": lambda: Runner(run, pool, inline=inline),
        "batching, max 32": lambda: DynamicBatcher(
            run, pool, inline=inline, max_batch_size=32, max_queue_delay=0.0, slots=2
        ),
        f"batching, max {preferred} (picked)": lambda: DynamicBatcher(
            run, pool, inline=inline, max_batch_size=preferred, max_queue_delay=0.0, slots=2
        ),
    }
    lines = []
    for concurrency in CONCURRENCY:
        rates: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(rounds):
            for name, make in runners.items():
                rates[name].append(uvloop.run(_drive(make(), model, concurrency, seconds)))
        plain = statistics.median(rates["no batching"])
        for name, values in rates.items():
            rate = statistics.median(values)
            lines.append(
                f"| {model.name} | {'inline' if inline else 'pool'} | {concurrency} | {name} | "
                f"{rate:,.0f} | {rate / plain:.2f}x |"
            )
    pool.shutdown()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="*", default=["image", "image-rgb32"])
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per cell (the median is shown)")
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args()
    lines = [
        "| model | runs | concurrency | runner | requests/s | vs no batching |",
        "| --- | --- | ---: | --- | ---: | ---: |",
    ]
    for model in train(args.models, "default", args.cache):
        lines += compare(model, args.seconds, args.rounds)
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
