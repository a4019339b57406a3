"""The Celery application shared by the training service (which sends tasks) and its workers."""

from __future__ import annotations

import os
import socket
from typing import Any

from celery import Celery
from kombu import Queue

from mlops.kernel.settings import KernelSettings

QUEUES = ("cpu", "gpu")
# A run may train for hours; Redis redelivers an unacknowledged task only after this long, so it must
# exceed the longest run (acks are late, so a task in progress stays unacknowledged).
VISIBILITY_TIMEOUT_SECONDS = 24 * 3600


def current_worker_id() -> str:
    """MLOPS_WORKER_ID, or host and process id: the name a worker holds run leases under."""
    return os.environ.get("MLOPS_WORKER_ID") or f"{socket.gethostname()}-{os.getpid()}"


def create_celery_app(settings: KernelSettings | None = None) -> Celery:
    settings = settings or KernelSettings()
    app = Celery("mlops.training", broker=settings.redis_url, backend=settings.redis_url)
    # Separates platforms (or test runs) sharing one Redis: every key and queue gets the prefix.
    key_prefix = getattr(settings, "celery_key_prefix", "")
    transport_options: dict[str, Any] = {"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS}
    if key_prefix:
        transport_options["global_keyprefix"] = key_prefix
    app.conf.update(
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue="cpu",
        # Acknowledge after the task ends, one task at a time, and requeue it when the worker dies
        # under it: a lost worker must not lose a training run.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options=transport_options,
        result_backend_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=24 * 3600,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        enable_utc=True,
    )

    @app.task(name="mlops.ping")
    def ping() -> str:
        return "pong"

    # The run record owns the state: a task that finds its run already taken, finished or cancelled
    # does nothing, so a redelivered or duplicated task is harmless.
    @app.task(name="mlops.train_run", bind=True, max_retries=None, acks_late=True)
    def train_run(self: Any, run_id: str) -> str:
        from services.training.execution import execute_run

        outcome = execute_run(run_id, current_worker_id())
        if outcome.retry_after_seconds:
            # The pool is at its limit of running runs: wait in the broker, not in the worker.
            raise self.retry(countdown=outcome.retry_after_seconds)
        return outcome.status

    return app
