"""The worker's progress reporter delivers every line, including those logged during its last report."""

from __future__ import annotations

import asyncio
from typing import Any

from mlops.api.training.v1 import training_pb2 as pb
from services.training.execution import ProgressReporter


class SlowTrainingService:
    """Answers ReportProgress after a delay, as a busy service does; keeps what it received."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.lines: list[str] = []
        self.in_flight = asyncio.Event()

    async def ReportProgress(self, request: pb.ReportProgressRequest) -> pb.ReportProgressResponse:
        self.in_flight.set()
        await asyncio.sleep(self.delay)
        self.lines.extend(line.text for line in request.logs)
        return pb.ReportProgressResponse()


async def test_closing_during_a_report_loses_no_line() -> None:
    service = SlowTrainingService(delay=0.2)
    reporter = ProgressReporter(service, "run-1", "worker-1")
    flusher: asyncio.Task[Any] = asyncio.create_task(reporter.run(interval=0.01))
    reporter.log("first")
    await service.in_flight.wait()
    # Logged while the report carrying "first" is on its way, then the run ends at once.
    reporter.log("stop seen by the trainer after step 3; saving what was logged")
    await reporter.close(flusher)
    assert service.lines == ["first", "stop seen by the trainer after step 3; saving what was logged"]
    assert flusher.done() and not flusher.cancelled()


async def test_a_stop_answered_by_the_service_reaches_the_trainer() -> None:
    class StoppingService(SlowTrainingService):
        async def ReportProgress(self, request: pb.ReportProgressRequest) -> pb.ReportProgressResponse:
            await super().ReportProgress(request)
            return pb.ReportProgressResponse(stop_requested=True)

    reporter = ProgressReporter(StoppingService(delay=0), "run-1", "worker-1")
    assert not reporter.should_stop()
    await reporter.flush()
    assert reporter.should_stop()
    assert any(line.startswith("stop seen by the trainer") for line in reporter.transcript)
