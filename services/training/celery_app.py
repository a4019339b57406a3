"""The Celery application shared by the training service (which sends tasks) and its workers."""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from mlops.kernel.settings import KernelSettings

QUEUES = ("cpu", "gpu")
# A run may train for hours; Redis redelivers an unacknowledged task only after this long, so it must
# exceed the longest run (acks are late, so a task in progress stays unacknowledged).
VISIBILITY_TIMEOUT_SECONDS = 24 * 3600


def create_celery_app(settings: KernelSettings | None = None) -> Celery:
    settings = settings or KernelSettings()
    app = Celery("mlops.training", broker=settings.redis_url, backend=settings.redis_url)
    app.conf.update(
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue="cpu",
        # Acknowledge after the task ends, one task at a time, and requeue it when the worker dies
        # under it: a lost worker must not lose a training run.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
        result_backend_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
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

    return app
