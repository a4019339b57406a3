"""The training worker: a Celery worker on Redis consuming one queue (MLOPS_WORKER_POOL: cpu or gpu).

It refreshes a heartbeat key, mlops:workers:training:<worker id>, so the supervisor and the training
service can see which workers are alive without Celery's broadcast machinery (switched off to keep an
idle worker quiet).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading

import redis
from celery import Celery
from celery.signals import worker_ready, worker_shutdown

from mlops.kernel.logging import configure_logging
from mlops.kernel.settings import KernelSettings
from services.training.celery_app import QUEUES, create_celery_app

logger = logging.getLogger("mlops.training.worker")

HEARTBEAT_PREFIX = "mlops:workers:training:"
HEARTBEAT_TTL_SECONDS = 15
HEARTBEAT_INTERVAL_SECONDS = 5.0


class TrainingWorkerSettings(KernelSettings):
    worker_pool: str = "cpu"
    worker_id: str = ""
    # solo: the task runs in the worker process itself (one process, the least memory);
    # prefork: each task in a child process, for isolation from crashing trainers.
    worker_celery_pool: str = "solo"
    # Must equal the training service's (see celery_app).
    celery_key_prefix: str = ""


def heartbeat_key(worker_id: str) -> str:
    return f"{HEARTBEAT_PREFIX}{worker_id}"


class Heartbeat:
    """Keeps the worker's key alive in Redis from a daemon thread, and deletes it on shutdown."""

    def __init__(self, redis_url: str, worker_id: str, pool: str) -> None:
        self.client = redis.Redis.from_url(redis_url, socket_timeout=5)
        self.key = heartbeat_key(worker_id)
        self.value = json.dumps({"worker_id": worker_id, "pool": pool, "pid": os.getpid()})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.client.set(self.key, self.value, ex=HEARTBEAT_TTL_SECONDS)
            except redis.RedisError as error:
                logger.warning("heartbeat failed: %s", error)
            self._stop.wait(HEARTBEAT_INTERVAL_SECONDS)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        try:
            self.client.delete(self.key)
        except redis.RedisError:
            logger.warning("could not remove the heartbeat key %s", self.key)


def worker_argv(settings: TrainingWorkerSettings, worker_id: str) -> list[str]:
    if settings.worker_pool not in QUEUES:
        raise ValueError(f"MLOPS_WORKER_POOL must be one of {QUEUES}, not {settings.worker_pool!r}")
    return [
        "worker",
        f"--queues={settings.worker_pool}",
        f"--pool={settings.worker_celery_pool}",
        "--concurrency=1",
        f"--hostname=training@{worker_id}",
        f"--loglevel={settings.log_level}",
        # No gossip, mingle or event heartbeats: they wake an idle worker for nothing we use.
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]


def run_worker(app: Celery, settings: TrainingWorkerSettings) -> None:
    worker_id = settings.worker_id or f"{socket.gethostname()}-{os.getpid()}"
    # The task reads it to name the holder of the run leases it takes.
    os.environ["MLOPS_WORKER_ID"] = worker_id
    heartbeat = Heartbeat(settings.redis_url, worker_id, settings.worker_pool)

    def _on_ready(**_: object) -> None:
        heartbeat.start()
        logger.info("training worker ready", extra={"fields": {"worker_id": worker_id}})

    def _on_shutdown(**_: object) -> None:
        heartbeat.stop()

    worker_ready.connect(_on_ready, weak=False)
    worker_shutdown.connect(_on_shutdown, weak=False)
    app.worker_main(argv=worker_argv(settings, worker_id))


def main() -> None:
    settings = TrainingWorkerSettings()
    configure_logging("training-worker", settings.log_level, settings.log_json)
    run_worker(create_celery_app(settings), settings)


if __name__ == "__main__":
    main()
