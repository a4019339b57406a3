"""Sending runs to the Celery workers of their pool."""

from __future__ import annotations

import asyncio

from celery import Celery

TRAIN_TASK = "mlops.train_run"


class CeleryDispatcher:
    def __init__(self, app: Celery) -> None:
        self.app = app

    async def dispatch(self, run_id: str, pool: str) -> None:
        # Not retried inside Celery: a failure leaves the run undispatched and the watchdog resends it.
        await asyncio.to_thread(self.app.send_task, TRAIN_TASK, args=[run_id], queue=pool, retry=False)
