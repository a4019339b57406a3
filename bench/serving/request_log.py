"""What request logging costs a request: the worker's protocol handler called in-process (no transport,
so the hook and the background writer's share of the event loop and the GIL are all that differ) with
logging off, at rate 0.1 and at rate 1, records encoded in a thread or (as the worker does) in a process
of their own, rounds interleaved, against an embedded SeaweedFS on the same machine.

    .venv/bin/python bench/serving/request_log.py [--calls 3000] [--rounds 3] [--model anomaly]

Prints per-call latency (mean, p50, p99 in microseconds) for each setting, and what the writer wrote.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import CACHE, MODELS, train

from mlops.kernel.objectstore import ObjectStore
from mlops.kernel.settings import S3Settings
from mlops.stack.servers import SeaweedS3Server
from services.serving.inference.auth import InvokeAuthorizer
from services.serving.inference.handler import InferenceHandler
from services.serving.inference.metrics import InferenceMetrics
from services.serving.inference.types import InferenceRequest, Tensor
from services.serving.worker.model_host import OnnxModelHost
from services.serving.worker.replica import ModelSpec
from services.serving.worker.request_log import LogPolicy, RequestLogger

# (setting, sample rate, where records are encoded)
SETTINGS = [
    ("off", 0.0, "thread"),
    ("rate 0.1, thread encoder", 0.1, "thread"),
    ("rate 1, thread encoder", 1.0, "thread"),
    ("rate 0.1, process encoder", 0.1, "process"),
    ("rate 1, process encoder", 1.0, "process"),
]


async def _calls(handler: InferenceHandler, request: InferenceRequest, count: int) -> list[float]:
    timings = []
    for _ in range(count):
        began = time.perf_counter()
        await handler.infer(request, "grpc")
        timings.append(time.perf_counter() - began)
        # Let the background writer run between calls, as it would between requests.
        await asyncio.sleep(0)
    return timings


async def bench(model_name: str, calls: int, rounds: int, s3: S3Settings) -> str:
    (model,) = train([model_name], "default", CACHE)
    host = OnnxModelHost(pool_threads=2)
    await host.load(ModelSpec(model.name, str(model.bundle), public=True, device="cpu", threads=1))
    store = ObjectStore(s3)
    processes = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    loggers = {
        kind: RequestLogger(
            store, "bench", registry=CollectorRegistry(), flush_records=1000, flush_seconds=2, encoder=encoder
        )
        for kind, encoder in (("thread", None), ("process", processes))
    }
    for log in loggers.values():
        log.start()
    handler = InferenceHandler(host, InvokeAuthorizer(None), InferenceMetrics())
    array = np.random.default_rng(0).random(model.input_shape, dtype=np.float32)
    tensor = Tensor(model.input_name, "FP32", tuple(array.shape), array)
    request = InferenceRequest(model_name=model.name, id="b", inputs=[tensor])
    await _calls(handler, request, 500)  # warm-up
    timings: dict[str, list[float]] = {name: [] for name, _, _ in SETTINGS}
    for _ in range(rounds):
        for name, rate, kind in SETTINGS:
            handler.request_log = loggers[kind]
            policy = LogPolicy("bench", 1, model.name, 1, rate, 1 << 20)
            for log in loggers.values():
                log.set_policies({model.name: policy} if rate and log is handler.request_log else {})
            timings[name] += await _calls(handler, request, calls)
    for log in loggers.values():
        await log.close()
    processes.shutdown()
    await host.close()
    rows = ["| setting | calls | mean (us) | p50 (us) | p99 (us) |", "| --- | ---: | ---: | ---: | ---: |"]
    for name, values in timings.items():
        micro = sorted(v * 1e6 for v in values)
        p99 = micro[int(len(micro) * 0.99) - 1]
        rows.append(
            f"| {name} | {len(micro)} | {statistics.fmean(micro):.1f} | {statistics.median(micro):.1f} "
            f"| {p99:.1f} |"
        )
    outcomes = {
        kind: {o: log.records.labels(o)._value.get() for o in ("written", "buffer_full", "write_failed")}
        for kind, log in loggers.items()
    }
    return "\n".join(rows) + f"\n\nrecords by encoder: {outcomes}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=3000, help="calls per setting per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default="anomaly", choices=list(MODELS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-request-log-") as tmp:
        server = SeaweedS3Server(data_dir=Path(tmp))
        server.start(timeout=60)
        try:
            s3 = S3Settings(
                endpoint=server.endpoint,
                access_key=server.access_key,
                secret_key=server.secret_key,  # type: ignore[arg-type]
                bucket="bench",
            )
            report = asyncio.run(bench(args.model, args.calls, args.rounds, s3))
        finally:
            server.stop()
    sys.stdout.write(report + "\n")


if __name__ == "__main__":
    main()
