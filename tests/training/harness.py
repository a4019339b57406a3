"""A real training stack for tests: identity, dataset service, training service and Celery workers.

Everything runs on loopback: the services in the test's event loop, each worker as its own process
(`python -m services.training.worker`), NATS, SeaweedFS and Redis from the shared fixtures.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import redis

from mlops.api.common.v1 import common_pb2
from mlops.api.dataset.v1 import dataset_pb2, dataset_pb2_grpc
from mlops.api.training.v1 import training_pb2 as pb
from mlops.api.training.v1 import training_pb2_grpc
from mlops.kernel.auth import Role
from mlops.kernel.grpcx import open_channel
from mlops.kernel.runtime import ServiceRuntime
from mlops.kernel.settings import S3Settings
from services.dataset.main import build as build_dataset
from services.dataset.settings import DatasetSettings
from services.training.main import TrainingRuntime
from services.training.service import Dispatcher
from services.training.settings import TrainingSettings
from services.training.worker import heartbeat_key
from tests.integration.test_grpc_auth import start_identity

TOKENS = {
    "mlops_sam_s3cret": ("sam", Role.DATA_SCIENTIST),
    "mlops_sid_s3cret": ("sid", Role.DATA_SCIENTIST),
    "mlops_eve_s3cret": ("eve", Role.MLOPS_ENGINEER),
    "mlops_vera_s3cret": ("vera", Role.VIEWER),
    "mlops_worker_s3cret": ("training-worker", Role.SERVICE),
}
SAM, SID, EVE, VERA, WORKER = TOKENS
REPO = Path(__file__).resolve().parents[2]
TEXT = "text-classification-ngram"
# Long enough to stop or kill mid-run: many epochs of small batches.
SLOW_PARAMETERS = {"epochs": 200, "batch_size": 16, "hash_buckets": 16384, "embedding_dim": 32}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RecordingDispatcher:
    """Stands in for Celery where a test has no workers: remembers what would have been sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def dispatch(self, run_id: str, pool: str) -> None:
        self.sent.append((run_id, pool))


@dataclass
class TrainingStack:
    tmp_path: Path
    nats_url: str
    s3: S3Settings
    redis_url: str
    identity_address: str
    dataset: ServiceRuntime
    training_port: int
    training_overrides: dict[str, Any]
    dispatcher: Dispatcher | None
    training: TrainingRuntime | None = None
    channels: list[grpc.aio.Channel] = field(default_factory=list)
    # Keeps this stack's Celery queues apart from other tests' workers on the same Redis.
    celery_key_prefix: str = field(default_factory=lambda: f"test-{uuid.uuid4().hex[:8]}:")
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def dataset_address(self) -> str:
        return f"127.0.0.1:{self.dataset.port}"

    @property
    def training_address(self) -> str:
        return f"127.0.0.1:{self.training_port}"

    async def start_training(self) -> TrainingRuntime:
        settings = TrainingSettings(
            data_dir=self.tmp_path / "data",
            grpc_port=self.training_port,
            identity_address=self.identity_address,
            dataset_address=self.dataset_address,
            nats_url=self.nats_url,
            redis_url=self.redis_url,
            celery_key_prefix=self.celery_key_prefix,
            s3=self.s3,
            shutdown_grace_seconds=0.5,
            log_json=False,
            **self.training_overrides,
        )
        self.training = TrainingRuntime(settings, dispatcher=self.dispatcher)
        await self.training.start()
        return self.training

    async def stop_training(self) -> None:
        if self.training is not None:
            await self.training.stop()
            self.training = None

    def stub(self, token: str = SAM) -> training_pb2_grpc.TrainingServiceStub:
        channel = open_channel(self.training_address, token=token, default_timeout=30)
        self.channels.append(channel)
        return training_pb2_grpc.TrainingServiceStub(channel)

    def datasets(self, token: str = SAM) -> dataset_pb2_grpc.DatasetServiceStub:
        channel = open_channel(self.dataset_address, token=token, default_timeout=60)
        self.channels.append(channel)
        return dataset_pb2_grpc.DatasetServiceStub(channel)

    async def text_version(self, count: int = 120, seed: int = 0) -> pb.DatasetVersionRef:
        """A small published text dataset (support tickets in four queues): quick to load and train."""
        import json
        import random

        datasets = self.datasets()
        created = await datasets.CreateDataset(
            dataset_pb2.CreateDatasetRequest(
                name=f"tickets-{uuid.uuid4().hex[:8]}", scenario=common_pb2.SCENARIO_TEXT_CLASSIFICATION
            )
        )
        rng = random.Random(seed)
        words = {
            "billing": ["invoice", "refund", "charged", "payment", "card"],
            "technical": ["error", "crash", "login", "bug", "timeout"],
            "shipping": ["parcel", "delivery", "courier", "tracking", "arrived"],
            "account": ["password", "email", "profile", "username", "close"],
        }
        lines = []
        for index in range(count):
            label = sorted(words)[index % 4]
            text = " ".join(rng.choice(words[label]) for _ in range(6)) + f" ticket {index}"
            lines.append(json.dumps({"id": f"t-{index:05d}", "text": text, "label": label}))
        header = dataset_pb2.UploadHeader(
            dataset_id=created.id, format=dataset_pb2.UPLOAD_FORMAT_JSONL, file_name="tickets.jsonl"
        )
        data = ("\n".join(lines) + "\n").encode()
        upload = dataset_pb2.UploadSamplesRequest
        parts = [upload(header=header), upload(chunk=data)]
        await datasets.UploadSamples(iter(parts))
        await datasets.SplitSamples(
            dataset_pb2.SplitSamplesRequest(
                dataset_id=created.id, training_ratio=0.7, validation_ratio=0.1, testing_ratio=0.2, seed=1
            )
        )
        version = await datasets.PublishVersion(dataset_pb2.PublishVersionRequest(dataset_id=created.id))
        return pb.DatasetVersionRef(dataset_id=version.dataset_id, number=version.number)

    def start_worker(self, worker_id: str = "") -> subprocess.Popen[bytes]:
        worker_id = worker_id or f"test-{uuid.uuid4().hex[:8]}"
        env = {
            **os.environ,
            "MLOPS_REDIS_URL": self.redis_url,
            "MLOPS_WORKER_POOL": "cpu",
            "MLOPS_CELERY_KEY_PREFIX": self.celery_key_prefix,
            "MLOPS_WORKER_ID": worker_id,
            "MLOPS_TRAINING_ADDRESS": self.training_address,
            "MLOPS_DATASET_ADDRESS": self.dataset_address,
            "MLOPS_SERVICE_TOKEN": WORKER,
            "MLOPS_S3__ENDPOINT": self.s3.endpoint,
            "MLOPS_S3__ACCESS_KEY": self.s3.access_key,
            "MLOPS_S3__SECRET_KEY": self.s3.secret_key.get_secret_value(),
            "MLOPS_S3__BUCKET": self.s3.bucket,
            "MLOPS_LOG_JSON": "false",
            "MLOPS_LOG_LEVEL": "INFO",
            "MLOPS_REPORT_INTERVAL_SECONDS": "0.3",
            "MLOPS_RUN_LEASE_SECONDS": str(self.training_overrides.get("run_lease_seconds", 30)),
            "MLOPS_TRAINING_THREADS": "1",
            "OMP_NUM_THREADS": "1",
        }
        log = (self.tmp_path / f"worker-{worker_id}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "services.training.worker"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers.append(process)
        client = redis.Redis.from_url(self.redis_url)
        deadline = time.monotonic() + 60
        while not client.exists(heartbeat_key(worker_id)):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {worker_id} did not start; see {log.name}")
            time.sleep(0.1)
        return process

    def kill_worker(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_workers(self) -> None:
        # Killed: a warm shutdown would wait for a run still training, and the test is over.
        for process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
        for process in self.workers:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


@contextlib.asynccontextmanager
async def training_stack(
    tmp_path: Path,
    nats_url: str,
    s3: S3Settings,
    redis_url: str,
    *,
    dispatcher: Dispatcher | None = None,
    **training_overrides: Any,
) -> AsyncIterator[TrainingStack]:
    identity, identity_address, _ = await start_identity(TOKENS)
    dataset = build_dataset(
        DatasetSettings(
            data_dir=tmp_path / "data",
            grpc_port=0,
            identity_address=identity_address,
            nats_url=nats_url,
            s3=s3,
            shutdown_grace_seconds=0.5,
            log_json=False,
        )
    )
    await dataset.start()
    stack = TrainingStack(
        tmp_path,
        nats_url,
        s3,
        redis_url,
        identity_address,
        dataset,
        free_port(),
        training_overrides,
        dispatcher,
    )
    try:
        await stack.start_training()
        yield stack
    finally:
        stack.stop_workers()
        for channel in stack.channels:
            await channel.close()
        await stack.stop_training()
        await dataset.stop()
        await identity.stop(0)


async def run_events(nats_url: str, run_id: str) -> list[str]:
    """The type names of the training events about `run_id` in the stream, oldest first."""
    import nats
    from nats.js.api import DeliverPolicy

    from mlops.kernel.events import decode

    client = await nats.connect(nats_url)
    try:
        subscription = await client.jetstream().subscribe(
            "mlops.events.training.>", ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
        )
        kinds = []
        while True:
            try:
                message = await subscription.next_msg(timeout=0.5)
            except TimeoutError:
                break
            event = decode(message.data)
            if event.subject == run_id:
                kinds.append(event.type_name)
        return kinds
    finally:
        await client.close()
