"""Runs executed by real Celery workers (separate processes) on Redis, end to end.

Faults from the issue: a stop mid-run, a worker killed with SIGKILL mid-run, the training service
restarted while runs are queued, NATS down while a run finishes.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
from google.protobuf import struct_pb2

from mlops.api.training.v1 import training_pb2 as pb
from mlops.kernel.events.testing import eventually
from mlops.stack.servers import NatsServer
from services.training.live import SUBJECT_PREFIX
from tests.fixtures.s3 import S3Endpoint, unique_bucket
from tests.training.harness import SLOW_PARAMETERS, TEXT, TrainingStack, run_events, training_stack

FINAL = (pb.RUN_STATUS_SUCCEEDED, pb.RUN_STATUS_FAILED, pb.RUN_STATUS_CANCELLED)


@pytest.fixture
async def stack(
    tmp_path: Path, nats_server: NatsServer, s3_server: S3Endpoint, redis_url: str
) -> AsyncIterator[TrainingStack]:
    async with training_stack(
        tmp_path,
        nats_server.url,
        s3_server.settings(unique_bucket()),
        redis_url,
        run_lease_seconds=3.0,
        watchdog_interval_seconds=0.5,
    ) as running:
        yield running


def parameters(**values: object) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


async def start(stack: TrainingStack, version: pb.DatasetVersionRef, **fields: object) -> pb.Run:
    fields.setdefault("preset", "quick")
    fields.setdefault("seed", 5)
    request = pb.StartRunRequest(dataset=version, algorithm_id=TEXT, **fields)  # type: ignore[arg-type]
    return await stack.stub().StartRun(request)


async def wait_for(
    stack: TrainingStack, run_id: str, statuses: tuple[int, ...], within: float = 60
) -> pb.Run:
    stub = stack.stub()
    found: list[pb.Run] = []

    async def reached() -> bool:
        run = await stub.GetRun(pb.GetRunRequest(run_id=run_id))
        found[:] = [run]
        return run.status in statuses

    await eventually(reached, within=within, every=0.1)
    return found[0]


async def download(stack: TrainingStack, run_id: str, name: str) -> bytes:
    chunks = [
        c.data
        async for c in stack.stub().DownloadArtifact(pb.DownloadArtifactRequest(run_id=run_id, name=name))
    ]
    return b"".join(chunks)


async def test_a_run_trains_reports_and_leaves_artifacts_then_reproduces(stack: TrainingStack) -> None:
    version = await stack.text_version()
    stack.start_worker()
    live = await nats.connect(stack.nats_url)
    received: list[dict[str, Any]] = []

    async def on_live(message: Any) -> None:
        received.append(json.loads(message.data))

    await live.subscribe(f"{SUBJECT_PREFIX}.*", cb=on_live)
    run = await start(stack, version, name="tickets")
    done = await wait_for(stack, run.id, FINAL)
    await live.flush()
    await live.close()
    # The live stream carried the epochs' metrics and log lines as they came.
    assert any(m["key"] == "train_loss" for r in received if r["run_id"] == run.id for m in r["metrics"])
    assert any(line["text"].startswith("epoch") for r in received for line in r["logs"])
    assert done.status == pb.RUN_STATUS_SUCCEEDED, done.failure_reason
    assert [t.status for t in done.transitions] == [
        pb.RUN_STATUS_QUEUED,
        pb.RUN_STATUS_RUNNING,
        pb.RUN_STATUS_SUCCEEDED,
    ]
    assert "accuracy" in done.summary_metrics
    names = {a.name for a in done.artifacts}
    assert {
        "bundle.zip",
        "model.onnx",
        "metrics.json",
        "evaluation.json",
        "model_card.md",
        "logs.txt",
    } <= names
    onnx = next(a for a in done.artifacts if a.name == "model.onnx")
    assert hashlib.sha256(await download(stack, run.id, "model.onnx")).hexdigest() == onnx.sha256

    stub = stack.stub()
    history = await stub.GetMetricHistory(pb.GetMetricHistoryRequest(run_id=run.id, max_points=100))
    keys = {s.key for s in history.series}
    assert {"train_loss", "val_accuracy", "epoch", "system/cpu_percent", "system/memory_mb"} <= keys
    loss = next(s for s in history.series if s.key == "train_loss")
    assert loss.total_points == 4 and len(loss.points) == 4
    logs = await stub.GetLogs(pb.GetLogsRequest(run_id=run.id))
    assert any("epoch 4/4" in line.text for line in logs.lines)
    tailed = [line.text async for line in stub.TailLogs(pb.GetLogsRequest(run_id=run.id))]
    assert tailed == [line.text for line in logs.lines]

    async def all_events() -> bool:
        return await run_events(stack.nats_url, run.id) == ["RunQueued", "RunStarted", "RunFinished"]

    await eventually(all_events, within=10)

    copy = await stub.ReproduceRun(pb.ReproduceRunRequest(run_id=run.id))
    assert copy.reproduction_of == run.id and copy.seed == run.seed
    reproduced = await wait_for(stack, copy.id, FINAL)
    assert reproduced.status == pb.RUN_STATUS_SUCCEEDED
    assert reproduced.HasField("reproduction_matches")
    assert reproduced.reproduction_matches

    compared = await stub.CompareRuns(pb.CompareRunsRequest(run_ids=[run.id, copy.id]))
    assert all(not p.differs for p in compared.parameters)
    assert {s.key for s in compared.metrics} >= {f"{run.id}/train_loss", f"{copy.id}/train_loss"}


async def test_a_stop_takes_effect_mid_run_and_keeps_what_was_logged(stack: TrainingStack) -> None:
    version = await stack.text_version(count=400)
    stack.start_worker()
    run = await start(stack, version, name="long", parameters=parameters(**SLOW_PARAMETERS))
    await wait_for(stack, run.id, (pb.RUN_STATUS_RUNNING,))
    stub = stack.stub()

    async def training() -> bool:
        logs = await stub.GetLogs(pb.GetLogsRequest(run_id=run.id))
        return any(line.text == "training loop started" for line in logs.lines)

    await eventually(training, within=60)
    stopping = await stub.StopRun(pb.StopRunRequest(run_id=run.id, confirm_name="long", reason="enough"))
    assert stopping.status == pb.RUN_STATUS_STOPPING
    done = await wait_for(stack, run.id, FINAL, within=30)
    assert done.status == pb.RUN_STATUS_CANCELLED
    requested = next(t for t in done.transitions if t.status == pb.RUN_STATUS_STOPPING).at.ToDatetime()
    logs = await stub.GetLogs(pb.GetLogsRequest(run_id=run.id))
    noticed = [line for line in logs.lines if line.text.startswith("stop seen by the trainer")]
    assert noticed, [line.text for line in logs.lines][-8:]
    seen = noticed[0]
    # The worker learns of the stop at its next report, the trainer at its next batch: long before
    # the 200 epochs end (how soon is a latency, measured by bench/training, not asserted here).
    assert seen.at.ToDatetime() >= requested
    assert not any("epoch 200/200" in line.text for line in logs.lines)
    assert {"logs.txt", "model.onnx"} <= {a.name for a in done.artifacts}
    memory = pb.GetMetricHistoryRequest(run_id=run.id, keys=["system/memory_mb"])
    history = await stub.GetMetricHistory(memory)
    assert history.series[0].total_points >= 1
    assert any(line.text.startswith("fetched") for line in logs.lines)


async def test_a_worker_killed_mid_run_leaves_the_run_failed_worker_lost(stack: TrainingStack) -> None:
    version = await stack.text_version(count=400)
    worker = stack.start_worker()
    run = await start(stack, version, name="doomed", parameters=parameters(**SLOW_PARAMETERS))
    await wait_for(stack, run.id, (pb.RUN_STATUS_RUNNING,))
    stack.kill_worker(worker)
    killed = time.monotonic()
    done = await wait_for(stack, run.id, FINAL, within=60)
    assert done.status == pb.RUN_STATUS_FAILED
    assert done.failure_reason == "worker lost"
    assert time.monotonic() - killed < 60
    # Retrying makes a new run with the same inputs, linked to the old one.
    retried = await stack.stub().RetryRun(pb.RetryRunRequest(run_id=run.id))
    assert retried.retry_of == run.id


async def test_queued_runs_still_run_after_the_service_restarts(stack: TrainingStack) -> None:
    version = await stack.text_version()
    run = await start(stack, version, name="patient")
    await stack.stop_training()
    await stack.start_training()
    stack.start_worker()
    done = await wait_for(stack, run.id, FINAL)
    assert done.status == pb.RUN_STATUS_SUCCEEDED, done.failure_reason


async def test_run_finished_arrives_once_after_nats_comes_back(
    tmp_path: Path, own_nats_server: NatsServer, s3_server: S3Endpoint, redis_url: str
) -> None:
    async with training_stack(
        tmp_path, own_nats_server.url, s3_server.settings(unique_bucket()), redis_url
    ) as stack:
        version = await stack.text_version()
        stack.start_worker()
        own_nats_server.stop()
        run = await start(stack, version, name="offline")
        done = await wait_for(stack, run.id, FINAL)
        assert done.status == pb.RUN_STATUS_SUCCEEDED, done.failure_reason
        own_nats_server.start()

        async def published() -> bool:
            return "RunFinished" in await run_events(stack.nats_url, run.id)

        await eventually(published, within=30)
        assert await run_events(stack.nats_url, run.id) == ["RunQueued", "RunStarted", "RunFinished"]
