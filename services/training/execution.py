"""What a training worker does with one run: claim it, fetch its data, train, upload, complete.

The worker owns no state: it reports through the training service's internal RPCs (ClaimRun,
ReportProgress, CompleteRun), so the service stays the only writer of its database. A progress
reporter flushes metrics and log lines every `report_interval_seconds`; each report renews the run's
lease (the heartbeat the watchdog watches) and answers whether a stop was requested, which the
trainer's `should_stop` reads at its next batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any

import grpc
import psutil
from google.protobuf import timestamp_pb2

from mlops.algorithms.base import Progress, TrainingContext, TrainingResult
from mlops.algorithms.registry import AlgorithmRegistry
from mlops.api.common.v1 import common_pb2
from mlops.api.dataset.v1 import dataset_pb2, dataset_pb2_grpc
from mlops.api.training.v1 import training_pb2 as pb
from mlops.api.training.v1 import training_pb2_grpc
from mlops.kernel.grpcx import open_channel
from mlops.kernel.objectstore import ObjectStore
from mlops.kernel.settings import KernelSettings
from mlops.kernel.structs import struct_to_dict
from services.training.api import artifact_key
from services.training.samples import samples_from_archive

log = logging.getLogger("mlops.training.execution")

MIN_REPORT_GAP_SECONDS = 0.05
CLAIM_RETRY_SECONDS = 5.0
_FINAL = {
    "succeeded": pb.RUN_STATUS_SUCCEEDED,
    "failed": pb.RUN_STATUS_FAILED,
    "cancelled": pb.RUN_STATUS_CANCELLED,
}


class ExecutionSettings(KernelSettings):
    training_address: str = "127.0.0.1:50052"
    dataset_address: str = "127.0.0.1:50051"
    report_interval_seconds: float = 0.5
    run_lease_seconds: float = 30.0
    # torch threads per training run; 0 leaves torch's default (all cores).
    training_threads: int = 0
    # "auto" takes a GPU where torch sees one (the gpu pool's workers), else the CPU.
    training_device: str = "auto"


@dataclass(frozen=True)
class Outcome:
    status: str
    retry_after_seconds: float = 0.0


def _now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


class ProgressReporter:
    """Collects metrics and log lines from the trainer's thread; sends them from the event loop."""

    def __init__(self, stub: Any, run_id: str, worker: str) -> None:
        self.stub = stub
        self.run_id = run_id
        self.worker = worker
        self._lock = threading.Lock()
        self._metrics: list[pb.MetricSample] = []
        self._logs: list[pb.LogLine] = []
        self.transcript: list[str] = []
        self.stop_requested = threading.Event()
        self.lease_lost = threading.Event()
        self.last_step = 0
        self._stop_seen = False
        self._loop_started = False
        self._wake = asyncio.Event()
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._process = psutil.Process()
        self._process.cpu_percent(None)

    def metric(self, key: str, step: int, value: float) -> None:
        with self._lock:
            self._metrics.append(pb.MetricSample(key=key, step=step, value=float(value), at=_now()))
            self.last_step = max(self.last_step, step)

    def log(self, text: str, stream: str = "stdout") -> None:
        with self._lock:
            self._logs.append(pb.LogLine(at=_now(), stream=stream, text=text))
            self.transcript.append(text)

    def on_progress(self, progress: Progress) -> None:
        for key, value in progress.metrics.items():
            self.metric(key, progress.step, value)
        self.metric("epoch", progress.step, progress.epoch)
        shown = " ".join(f"{k}={v:.4g}" for k, v in sorted(progress.metrics.items()))
        total = f"/{progress.total_epochs}" if progress.total_epochs else ""
        self.log(f"epoch {progress.epoch}{total} step {progress.step}: {shown}")
        # An epoch's metrics leave now rather than at the next tick: charts follow training closely.
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def should_stop(self) -> bool:
        if not self._loop_started:
            # Trainers ask before their first batch: preparation is over, steps begin.
            self._loop_started = True
            self.log("training loop started")
        stop = self.stop_requested.is_set() or self.lease_lost.is_set()
        if stop and not self._stop_seen:
            # The moment a stop takes effect, on record for whoever asks how long it took.
            self._stop_seen = True
            self.log(f"stop seen by the trainer after step {self.last_step}; saving what was logged")
        return stop

    async def flush(self) -> None:
        memory_mb = self._process.memory_info().rss / 2**20
        self.metric("system/cpu_percent", self.last_step, self._process.cpu_percent(None))
        self.metric("system/memory_mb", self.last_step, memory_mb)
        gpu_mb = _gpu_memory_mb()
        if gpu_mb is not None:
            self.metric("system/gpu_memory_mb", self.last_step, gpu_mb)
        with self._lock:
            metrics, self._metrics = self._metrics, []
            logs, self._logs = self._logs, []
        try:
            reply = await self.stub.ReportProgress(
                pb.ReportProgressRequest(run_id=self.run_id, worker=self.worker, metrics=metrics, logs=logs)
            )
        except grpc.aio.AioRpcError as error:
            # Kept for the next flush: the service may be restarting.
            with self._lock:
                self._metrics[:0] = metrics
                self._logs[:0] = logs
            log.warning("progress report failed: %s", error.details())
            return
        if reply.stop_requested:
            self.stop_requested.set()
        if reply.lease_lost:
            self.lease_lost.set()

    async def run(self, interval: float) -> None:
        self._loop = asyncio.get_running_loop()
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            self._wake.clear()
            if self._closing:
                return
            # Reports at most every MIN_REPORT_GAP seconds however fast epochs come.
            await asyncio.sleep(MIN_REPORT_GAP_SECONDS)
            try:
                await self.flush()
            except Exception:
                # The heartbeat must outlive one bad report, or the watchdog fails a healthy run.
                log.exception("progress report of run %s failed", self.run_id)

    async def close(self, flusher: asyncio.Task[None]) -> None:
        """Ends `run` between reports, never mid-report: a cancelled report would lose the lines
        it had taken (the last ones, such as the trainer's stop notice), then sends what is left."""
        self._closing = True
        self._wake.set()
        await flusher
        await self.flush()


def _gpu_memory_mb() -> float | None:
    """GPU memory the trainer holds, where it trains on a GPU (torch is imported by then, if at all)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return float(torch.cuda.memory_allocated()) / 2**20


class _TranscriptHandler(logging.Handler):
    """Log records of the algorithms during a run become the run's log lines."""

    def __init__(self, reporter: ProgressReporter) -> None:
        super().__init__(logging.INFO)
        self.reporter = reporter

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            stream = "stderr" if record.levelno >= logging.WARNING else "stdout"
            self.reporter.log(self.format(record), stream)


class RunExecution:
    def __init__(
        self,
        settings: ExecutionSettings,
        worker: str,
        run_id: str,
        algorithms: AlgorithmRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.worker = worker
        self.run_id = run_id
        self.algorithms = algorithms or AlgorithmRegistry.discover()
        token = settings.service_token.get_secret_value() if settings.service_token else None
        self.token = token

    async def execute(self) -> Outcome:
        async with (
            open_channel(
                self.settings.training_address, token=self.token, default_timeout=30, tls=self.settings.tls
            ) as training,
            open_channel(
                self.settings.dataset_address, token=self.token, default_timeout=300, tls=self.settings.tls
            ) as datasets,
        ):
            stub = training_pb2_grpc.TrainingServiceStub(training)
            try:
                claim = await stub.ClaimRun(
                    pb.ClaimRunRequest(
                        run_id=self.run_id,
                        worker=self.worker,
                        lease_seconds=int(self.settings.run_lease_seconds),
                    )
                )
            except grpc.aio.AioRpcError as error:
                if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    # The service is restarting: the task waits in the broker and asks again.
                    log.warning("run %s: training service unavailable; retrying", self.run_id)
                    return Outcome("service unavailable", CLAIM_RETRY_SECONDS)
                log.error("run %s cannot be claimed: %s %s", self.run_id, error.code().name, error.details())
                return Outcome("refused")
            if not claim.granted:
                log.info("run %s not claimed: %s", self.run_id, claim.reason)
                return Outcome("refused", claim.retry_after_seconds)
            reporter = ProgressReporter(stub, self.run_id, self.worker)
            handler = _TranscriptHandler(reporter)
            logging.getLogger("mlops.algorithms").addHandler(handler)
            flusher = asyncio.create_task(reporter.run(self.settings.report_interval_seconds))
            try:
                status, summary, artifacts, reason = await self._train(
                    claim.run, dataset_pb2_grpc.DatasetServiceStub(datasets), reporter
                )
            finally:
                logging.getLogger("mlops.algorithms").removeHandler(handler)
                await reporter.close(flusher)
            if reporter.lease_lost.is_set():
                log.warning("run %s: lease lost, not completing it", self.run_id)
                return Outcome("lease lost")
            artifacts.append(
                await self._upload("logs.txt", "\n".join(reporter.transcript).encode(), "text/plain")
            )
            await stub.CompleteRun(
                pb.CompleteRunRequest(
                    run_id=self.run_id,
                    worker=self.worker,
                    status=_FINAL[status],  # type: ignore[arg-type]
                    summary_metrics=summary,
                    artifacts=artifacts,
                    failure_reason=reason,
                )
            )
            return Outcome(status)

    async def _train(
        self, run: pb.Run, datasets: Any, reporter: ProgressReporter
    ) -> tuple[str, dict[str, float], list[common_pb2.ArtifactRef], str]:
        try:
            reporter.log(
                f"run {run.name}: {run.algorithm_id} {run.algorithm_version} on dataset "
                f"{run.dataset.dataset_id} v{run.dataset.number}, seed {run.seed}, worker {self.worker}"
            )
            samples = await self._samples(run, datasets)
            reporter.log(f"fetched {len(samples)} samples")
            algorithm = self.algorithms.get(run.algorithm_id)
            params = self.algorithms.validate(run.algorithm_id, struct_to_dict(run.parameters))
            context = TrainingContext(
                seed=run.seed,
                device=self.settings.training_device,
                callback=reporter.on_progress,
                should_stop=reporter.should_stop,
            )
            started = time.monotonic()
            result = await asyncio.to_thread(self._run_trainer, algorithm, samples, params, context)
            reporter.log(f"training took {time.monotonic() - started:.1f} s")
            artifacts = await self._upload_result(result)
            stopped = result.stopped or reporter.stop_requested.is_set()
            return ("cancelled" if stopped else "succeeded"), dict(result.metrics), artifacts, ""
        except Exception as error:
            reporter.log("".join(traceback.format_exception_only(error)).strip(), "stderr")
            log.exception("run %s failed", self.run_id)
            return "failed", {}, [], str(error)[:1000] or type(error).__name__

    def _run_trainer(
        self, algorithm: Any, samples: Any, params: Any, context: TrainingContext
    ) -> TrainingResult:
        if self.settings.training_threads:
            import torch

            torch.set_num_threads(self.settings.training_threads)
        return algorithm.train(samples, params, context)  # type: ignore[no-any-return]

    async def _samples(self, run: pb.Run, datasets: Any) -> list[Any]:
        chunks = []
        request = dataset_pb2.DownloadVersionRequest(
            dataset_id=run.dataset.dataset_id,
            number=run.dataset.number,
            format=dataset_pb2.ARCHIVE_FORMAT_TAR_GZ,
        )
        async for chunk in datasets.DownloadVersion(request):
            chunks.append(chunk.data)
        samples, _ = await asyncio.to_thread(samples_from_archive, b"".join(chunks))
        return samples

    async def _upload_result(self, result: TrainingResult) -> list[common_pb2.ArtifactRef]:
        # Zipping a large model takes seconds: off the event loop, so progress reports (the lease's
        # heartbeat) keep flowing meanwhile.
        files = await asyncio.to_thread(_result_files, result)
        return [await self._upload(name, data, media_type) for name, data, media_type in files]

    async def _upload(self, name: str, data: bytes, media_type: str) -> common_pb2.ArtifactRef:
        store = ObjectStore(self.settings.s3)
        await store.ensure_bucket()
        info = await store.put_object(artifact_key(self.run_id, name), data, media_type=media_type)
        return common_pb2.ArtifactRef(
            name=name,
            uri=f"s3://{store.bucket}/{info.key}",
            sha256=info.sha256 or "",
            size_bytes=info.size,
            media_type=media_type,
        )


def _result_files(result: TrainingResult) -> list[tuple[str, bytes, str]]:
    bundle = result.bundle
    history = [
        {"epoch": p.epoch, "step": p.step, "metrics": p.metrics, "total_epochs": p.total_epochs}
        for p in result.history
    ]
    return [
        ("bundle.zip", bundle.to_zip(), "application/zip"),
        ("model.onnx", bundle.onnx_model, "application/octet-stream"),
        ("metrics.json", _json({"metrics": result.metrics, "history": history}), "application/json"),
        ("evaluation.json", _json(result.evaluation), "application/json"),
        ("model_card.md", result.model_card.to_markdown().encode(), "text/markdown"),
    ]


def _json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, indent=1, default=str).encode()


def execute_run(run_id: str, worker: str, settings: ExecutionSettings | None = None) -> Outcome:
    """The Celery task's body: one event loop per run (the solo pool runs tasks one at a time)."""
    return asyncio.run(RunExecution(settings or ExecutionSettings(), worker, run_id).execute())
