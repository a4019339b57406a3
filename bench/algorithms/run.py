"""Bench of the algorithm catalog: per scenario, training time with default parameters on the demo data,
the metric against its bar, the ONNX size and single-request onnxruntime latency.

    .venv/bin/python bench/algorithms/run.py [--only ID ...] [--threads 2] [--json out.json]

Latency is the median of repeated batch-1 calls: `onnxruntime` on the prepared tensors alone (one
intra-op thread, as a serving worker would run one session per core), and `end to end` through the
predictor's pre-processing, session and post-processing with a human-friendly input.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from typing import Any

from mlops.algorithms import TrainingContext, validate_parameters
from mlops.algorithms.builtin import builtin_algorithms
from mlops.algorithms.predictor import OnnxBackend

logger = logging.getLogger("bench.algorithms")


def _median_ms(call: Any, repeats: int) -> float:
    call()  # warm-up: the first run allocates
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def bench(algorithm: Any, repeats: int) -> dict[str, Any]:
    params = validate_parameters(algorithm, {}, preset="default")
    samples = algorithm.demo_dataset()
    started = time.perf_counter()
    result = algorithm.train(samples, params, TrainingContext(seed=0, device="auto"))
    seconds = time.perf_counter() - started
    bundle = result.bundle
    predictor = algorithm.predictor(bundle, device="cpu")
    predictor.backend = OnnxBackend(bundle.onnx_model, bundle.signature, device="cpu", threads=1)
    example = algorithm.example_input()
    tensors = predictor.preprocess([example])
    bars = []
    for bar in algorithm.quality_bars:
        bars.append(
            {"bar": bar.describe(), "value": result.metrics[bar.metric], "met": bar.met_by(result.metrics)}
        )
    return {
        "algorithm": algorithm.id,
        "scenario": str(algorithm.scenario),
        "training_seconds": seconds,
        "bars": bars,
        "onnx_bytes": len(bundle.onnx_model),
        "onnxruntime_ms": _median_ms(lambda: predictor.run_tensors(tensors), repeats),
        "end_to_end_ms": _median_ms(lambda: predictor.predict_one(example), repeats),
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario | algorithm | training (s) | metric vs bar | ONNX size | onnxruntime batch-1 (ms) "
        "| end to end (ms) |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: |",
    ]
    for row in rows:
        bars = "; ".join(
            f"{b['value']:.3f} ({b['bar']}: {'met' if b['met'] else 'MISSED'})" for b in row["bars"]
        )
        size = f"{row['onnx_bytes'] / 1024:.0f} KiB"
        lines.append(
            f"| {row['scenario']} | {row['algorithm']} | {row['training_seconds']:.1f} | {bars} | {size} | "
            f"{row['onnxruntime_ms']:.3f} | {row['end_to_end_ms']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="algorithm ids to run (default: all built-ins)")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch threads for training")
    parser.add_argument("--repeats", type=int, default=200, help="latency calls per measurement")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    import torch

    torch.set_num_threads(args.threads)
    algorithms = [a for a in builtin_algorithms() if not args.only or a.id in args.only]
    rows = []
    for algorithm in algorithms:
        rows.append(bench(algorithm, args.repeats))
        logger.warning("%s done in %.1f s", algorithm.id, rows[-1]["training_seconds"])
    sys.stdout.write(table(rows) + "\n")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)
    return 0 if all(b["met"] for row in rows for b in row["bars"]) else 1


if __name__ == "__main__":
    sys.exit(main())
