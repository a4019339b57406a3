"""The live stream of a run's progress on NATS core subjects, for the gateway's charts and log tails.

The store is the record; this stream is best effort (no JetStream, no retries): a subscriber that
misses messages catches up from GetMetricHistory and GetLogs. Subject: mlops.live.training.runs.<id>.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from services.training.store import MetricRecord

if TYPE_CHECKING:
    from mlops.kernel.events import EventBus

log = logging.getLogger(__name__)

SUBJECT_PREFIX = "mlops.live.training.runs"


def live_subject(run_id: str) -> str:
    return f"{SUBJECT_PREFIX}.{run_id}"


def progress_message(
    run_id: str,
    metrics: Sequence[MetricRecord],
    logs: Sequence[tuple[datetime, str, str]],
    last_seq: int,
) -> bytes:
    first_seq = last_seq - len(logs) + 1
    return json.dumps(
        {
            "run_id": run_id,
            "metrics": [{"key": m.key, "step": m.step, "value": m.value} for m in metrics],
            "logs": [
                {"seq": first_seq + i, "at": at.isoformat(), "stream": stream, "text": text}
                for i, (at, stream, text) in enumerate(logs)
            ],
        },
        separators=(",", ":"),
    ).encode()


class LivePublisher:
    """Publishes nowhere: the default where no bus is wired (tests of the service alone)."""

    async def publish(self, run_id: str, data: bytes) -> None:
        return None


class BusLivePublisher(LivePublisher):
    """Publishes through the runtime's event bus once it is connected; drops messages meanwhile."""

    def __init__(self, bus: Callable[[], EventBus | None]) -> None:
        self._bus = bus

    async def publish(self, run_id: str, data: bytes) -> None:
        bus = self._bus()
        if bus is None or not bus.connected:
            return
        try:
            await bus.nc.publish(live_subject(run_id), data)
        except Exception as error:  # best effort by design
            log.debug("live progress of run %s not published: %s", run_id, error)
