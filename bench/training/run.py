"""Training service benchmarks, in one run (see bench/training/README.md).

1. Launch overhead: StartRun to the first reported step (an epoch's metrics in the store), with a
   warm worker (one run done before measuring).
2. Metric ingestion: processes acting as workers send metric batches through ReportProgress into the
   service's PostgreSQL; sustained metrics/s. With --mlflow-python, the same load against an MLflow
   tracking server (`log_batch`) on the same PostgreSQL server.
3. Metric history: 100,000 points of one series downsampled to 1,000 for a chart, through the API.

    .venv/bin/python -m bench.training.run --mlflow-python /tmp/mlflowvenv/bin/python
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import httpx
from pydantic import SecretStr

from mlops.api.training.v1 import training_pb2 as pb
from mlops.api.training.v1 import training_pb2_grpc
from mlops.kernel.settings import S3Settings
from mlops.stack.ports import wait_for_port
from mlops.stack.servers import NatsServer, RedisServer, SeaweedS3Server
from services.training.store import MetricRecord, RunRepository
from tests.training.harness import TEXT, WORKER, TrainingStack, training_stack

log = logging.getLogger("bench.training")
POSTGRES_ADMIN = os.environ.get("MLOPS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BENCH_SERIES_POINTS = 100_000


async def _admin(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_ADMIN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- 1. launch overhead ---------------------------------------------------------------------------


async def wait_final(stub: Any, run_id: str) -> pb.Run:
    final = (pb.RUN_STATUS_SUCCEEDED, pb.RUN_STATUS_FAILED, pb.RUN_STATUS_CANCELLED)
    for _ in range(2400):
        run = await stub.GetRun(pb.GetRunRequest(run_id=run_id))
        if run.status in final:
            return run
        await asyncio.sleep(0.05)
    raise TimeoutError(f"run {run_id} did not finish")


async def bench_launch(stack: TrainingStack, runs: int) -> dict[str, Any]:
    version = await stack.text_version(count=120)
    stack.start_worker()
    stub = stack.stub()

    async def first_step(run_id: str, deadline: float) -> tuple[float, float]:
        started_at = running_at = 0.0
        while time.monotonic() < deadline:
            history = await stub.GetMetricHistory(pb.GetMetricHistoryRequest(run_id=run_id, keys=["epoch"]))
            if not running_at:
                run = await stub.GetRun(pb.GetRunRequest(run_id=run_id))
                if run.status != pb.RUN_STATUS_QUEUED:
                    running_at = time.monotonic()
            if history.series and history.series[0].total_points:
                started_at = time.monotonic()
                return running_at or started_at, started_at
            await asyncio.sleep(0.01)
        raise TimeoutError(f"run {run_id} reported no step")

    async def one(seed: int) -> tuple[float, float]:
        begin = time.monotonic()
        run = await stub.StartRun(
            pb.StartRunRequest(
                dataset=version, algorithm_id=TEXT, preset="quick", seed=seed, allow_duplicate=True
            )
        )
        running, stepped = await first_step(run.id, begin + 120)
        await wait_final(stub, run.id)
        return running - begin, stepped - begin

    await one(0)  # warm-up: imports torch and the algorithm in the worker
    samples = [await one(seed) for seed in range(1, runs + 1)]
    stack.stop_workers()
    to_running = [s[0] for s in samples]
    to_step = [s[1] for s in samples]
    return {
        "runs": runs,
        "start_to_running_s_median": statistics.median(to_running),
        "start_to_first_step_s_median": statistics.median(to_step),
        "start_to_first_step_s_max": max(to_step),
    }


# --- 2. metric ingestion --------------------------------------------------------------------------


def _ingest_client(address: str, run_id: str, worker: str, batch: int, seconds: float, results: Any) -> None:
    from google.protobuf import timestamp_pb2

    channel = grpc.insecure_channel(address)
    stub = training_pb2_grpc.TrainingServiceStub(channel)
    metadata = [("authorization", f"Bearer {WORKER}")]
    sent, step = 0, 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        now = timestamp_pb2.Timestamp()
        now.GetCurrentTime()
        metrics = [
            pb.MetricSample(key=f"m{i % 10}", step=step + i // 10, value=float(i), at=now)
            for i in range(batch)
        ]
        stub.ReportProgress(
            pb.ReportProgressRequest(run_id=run_id, worker=worker, metrics=metrics),
            metadata=metadata,
            timeout=30,
        )
        sent += batch
        step += batch // 10
    channel.close()
    results.put((sent, time.monotonic() - started))


async def bench_ingestion(stack: TrainingStack, batch: int, seconds: float, processes: int) -> dict[str, Any]:
    version = await stack.text_version(count=40, seed=batch)
    stub = stack.stub()
    worker_stub = stack.stub(WORKER)
    runs = []
    for index in range(processes):
        run = await stub.StartRun(
            pb.StartRunRequest(
                dataset=version,
                algorithm_id=TEXT,
                preset="quick",
                seed=1000 + index + batch,
                allow_duplicate=True,
            )
        )
        worker = f"bench-{index}"
        claim = await worker_stub.ClaimRun(
            pb.ClaimRunRequest(run_id=run.id, worker=worker, lease_seconds=600)
        )
        assert claim.granted, claim.reason
        runs.append((run.id, worker))
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    clients = [
        context.Process(
            target=_ingest_client, args=(stack.training_address, run_id, worker, batch, seconds, results)
        )
        for run_id, worker in runs
    ]
    for client in clients:
        client.start()
    outcomes = [await asyncio.to_thread(results.get, True, seconds + 120) for _ in clients]
    for client in clients:
        await asyncio.to_thread(client.join)
    sent = sum(s for s, _ in outcomes)
    elapsed = max(e for _, e in outcomes)
    return {"batch": batch, "processes": processes, "metrics": sent, "per_second": sent / elapsed}


def bench_mlflow(python: str, batch: int, seconds: float, processes: int, workers: int) -> dict[str, Any]:
    database = f"mlflow_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{database}"'))
    port = _free_port()
    artifacts = Path(tempfile.mkdtemp(prefix="mlflow-artifacts-"))
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://")
    server = subprocess.Popen(
        [
            python, "-m", "mlflow", "server",
            "--backend-store-uri", f"{base}/{database}",
            "--default-artifact-root", str(artifacts),
            "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers),
            # gunicorn: its best configuration here (uvicorn with several workers waits on delayed ACKs).
            "--gunicorn-opts", "--timeout 120",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the MLflow server did not start")
            time.sleep(0.5)
        # Its job runner keeps a core busy for a while after /health answers: let it settle.
        time.sleep(15)
        done = subprocess.run(
            [
                python, str(Path(__file__).with_name("mlflow_client.py")), f"http://127.0.0.1:{port}",
                "--batch", str(batch), "--seconds", str(seconds), "--processes", str(processes),
            ],
            env=env, capture_output=True, text=True, check=True, timeout=seconds + 300,
        )  # fmt: skip
        result = json.loads(done.stdout.strip().splitlines()[-1])
        return {"batch": batch, "processes": processes, "server_workers": workers, **result}
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(artifacts, ignore_errors=True)
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


# --- 3. metric history ----------------------------------------------------------------------------


async def bench_history(stack: TrainingStack, repeats: int) -> dict[str, Any]:
    assert stack.training is not None and stack.training.db is not None
    version = await stack.text_version(count=40, seed=7)
    run = await stack.stub().StartRun(
        pb.StartRunRequest(dataset=version, algorithm_id=TEXT, preset="quick", seed=77, allow_duplicate=True)
    )
    now = datetime.now(UTC)
    points = [
        MetricRecord("loss", step, 1 / (1 + step) + (step % 97) / 970, now)
        for step in range(BENCH_SERIES_POINTS)
    ]
    async with stack.training.db.transaction() as session:
        await RunRepository(session).append_metrics(run.id, points)
    stub = stack.stub()
    request = pb.GetMetricHistoryRequest(run_id=run.id, keys=["loss"], max_points=1000)
    await stub.GetMetricHistory(request)
    timings = []
    for _ in range(repeats):
        began = time.perf_counter()
        reply = await stub.GetMetricHistory(request)
        timings.append(time.perf_counter() - began)
    series = reply.series[0]
    return {
        "points": series.total_points,
        "returned": len(series.points),
        "ms_median": 1000 * statistics.median(timings),
        "ms_max": 1000 * max(timings),
    }


# --- wiring ---------------------------------------------------------------------------------------


async def run_all(
    args: argparse.Namespace, root: Path, s3: S3Settings, nats_url: str, redis_url: str
) -> dict[str, Any]:
    database = f"training_bench_{uuid.uuid4().hex[:8]}"
    await _admin(f'CREATE DATABASE "{database}"')
    results: dict[str, Any] = {}
    try:
        database_url = f"{POSTGRES_ADMIN.rsplit('/', 1)[0]}/{database}"
        async with training_stack(
            root, nats_url, s3, redis_url, database_url=database_url, run_lease_seconds=600
        ) as stack:
            results["launch"] = await bench_launch(stack, args.launch_runs)
            log.info("launch: %s", results["launch"])
            results["ingestion"] = [
                await bench_ingestion(stack, batch, args.seconds, args.processes) for batch in args.batches
            ]
            log.info("ingestion: %s", results["ingestion"])
            results["history"] = await bench_history(stack, args.repeats)
            log.info("history: %s", results["history"])
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--launch-runs", type=int, default=5)
    parser.add_argument("--batches", type=int, nargs="+", default=[10, 500])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--mlflow-python", default="", help="Python of a venv with mlflow and psycopg2.")
    parser.add_argument("--mlflow-workers", type=int, default=4)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("mlops", "services", "celery", "alembic", "opentelemetry"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    root = Path(tempfile.mkdtemp(prefix="mlops-bench-training-"))
    nats = NatsServer(data_dir=root / "nats")
    seaweed = SeaweedS3Server(data_dir=root / "s3")
    redis_server = None
    nats.start()
    seaweed.start(timeout=60)
    if wait_for_port(6379, timeout=0.5):
        redis_url = "redis://127.0.0.1:6379/14"
    else:
        redis_server = RedisServer(data_dir=root / "redis")
        redis_server.start()
        redis_url = redis_server.url
    s3 = S3Settings(
        endpoint=seaweed.endpoint,
        access_key=seaweed.access_key,
        secret_key=SecretStr(seaweed.secret_key),
        bucket="bench-training",
    )
    try:
        results = asyncio.run(run_all(args, root, s3, nats.url, redis_url))
        if args.mlflow_python:
            results["mlflow"] = [
                bench_mlflow(args.mlflow_python, batch, args.seconds, args.processes, args.mlflow_workers)
                for batch in args.batches
            ]
    finally:
        if redis_server is not None:
            redis_server.stop()
        seaweed.stop()
        nats.stop()
        shutil.rmtree(root, ignore_errors=True)
    text = json.dumps(results, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
