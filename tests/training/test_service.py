"""The training service's use cases on a real SQLite database, with a clock the tests move.

The dataset catalog and the dispatcher are the service's seams to other processes; here they are
small stand-ins, so the rules about leases, pools, redelivery and the watchdog are checked alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from mlops.algorithms.registry import AlgorithmRegistry
from mlops.kernel.auth import Principal, Role
from mlops.kernel.db import Database, migrate_async
from mlops.kernel.errors import FailedPrecondition
from mlops.kernel.tables import outbox
from services.training.domain import WORKER_LOST, CodeVersion, ConcurrencyLimits, DatasetRef, RunStatus
from services.training.main import MIGRATIONS
from services.training.service import ServiceConfig, StartRequest, TrainingService
from services.training.store import MetricRecord

TEXT = "text-classification-ngram"
SAM = Principal("sam", Role.DATA_SCIENTIST)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Catalog:
    async def published_version(self, dataset_id: str, number: int, authorization: str | None) -> DatasetRef:
        return DatasetRef(dataset_id, number, "d" * 64)


class Dispatcher:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.down = False

    async def dispatch(self, run_id: str, pool: str) -> None:
        if self.down:
            raise ConnectionError("broker down")
        self.sent.append(run_id)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'training.db'}"
    await migrate_async(url, MIGRATIONS)
    database = Database(url)
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def dispatcher() -> Dispatcher:
    return Dispatcher()


@pytest.fixture
def service(db: Database, clock: Clock, dispatcher: Dispatcher) -> TrainingService:
    return TrainingService(
        db,
        AlgorithmRegistry.discover(),
        Catalog(),
        dispatcher,
        CodeVersion("0.1.0", "abc"),
        ServiceConfig(limits=ConcurrencyLimits(running_per_pool=1), lease_seconds=30),
        clock=clock,
    )


async def a_run(service: TrainingService, seed: int = 1) -> str:
    request = StartRequest(
        name="", dataset_id="d1", dataset_version=1, algorithm_id=TEXT, seed=seed, allow_duplicate=True
    )
    run = await service.start_run(SAM, request, None)
    return run.id


async def events(db: Database) -> list[str]:
    async with db.transaction() as session:
        return [row[0] for row in await session.execute(select(outbox.c.subject).order_by(outbox.c.seq))]


async def test_a_redelivered_task_cannot_run_a_claimed_run_twice(service: TrainingService) -> None:
    run_id = await a_run(service)
    first = await service.claim_run(run_id, "w1", 30)
    assert first.granted and first.run is not None and first.run.status is RunStatus.RUNNING
    again = await service.claim_run(run_id, "w2", 30)
    assert not again.granted and "running" in again.reason
    # The same worker asking again (its own redelivery) keeps its claim.
    assert (await service.claim_run(run_id, "w1", 30)).granted


async def test_a_full_pool_makes_a_run_wait_in_the_broker(service: TrainingService) -> None:
    first, second = await a_run(service, 1), await a_run(service, 2)
    assert (await service.claim_run(first, "w1", 30)).granted
    waiting = await service.claim_run(second, "w2", 30)
    assert not waiting.granted and waiting.retry_after_seconds > 0
    await service.complete_run(first, "w1", RunStatus.SUCCEEDED, {"accuracy": 1.0}, [], "")
    assert (await service.claim_run(second, "w2", 30)).granted


async def test_only_the_lease_holder_reports_and_completes(service: TrainingService, clock: Clock) -> None:
    run_id = await a_run(service)
    await service.claim_run(run_id, "w1", 30)
    metric = [MetricRecord("loss", 1, 0.5, clock())]
    assert not (await service.report_progress(run_id, "w1", metric, [(clock(), "stdout", "hi")])).lease_lost
    assert (await service.report_progress(run_id, "w2", metric, [])).lease_lost
    with pytest.raises(FailedPrecondition):
        await service.complete_run(run_id, "w2", RunStatus.SUCCEEDED, {}, [], "")
    history = await service.metric_history(run_id, [], 0)
    assert history == [("loss", history[0][1], 1)]


async def test_a_stop_reaches_the_worker_through_its_next_report(service: TrainingService) -> None:
    run_id = await a_run(service)
    await service.claim_run(run_id, "w1", 30)
    run = await service.get_run(run_id)
    await service.stop_run(SAM, run_id, run.name, "enough")
    outcome = await service.report_progress(run_id, "w1", [], [])
    assert outcome.stop_requested and not outcome.lease_lost
    done = await service.complete_run(run_id, "w1", RunStatus.CANCELLED, {}, [], "")
    assert done.status is RunStatus.CANCELLED


async def test_the_watchdog_fails_runs_whose_lease_ran_out(
    service: TrainingService, clock: Clock, db: Database
) -> None:
    run_id = await a_run(service)
    await service.claim_run(run_id, "w1", 30)
    clock.advance(20)
    await service.report_progress(run_id, "w1", [], [])
    clock.advance(20)
    assert await service.fail_lost_workers() == []
    clock.advance(11)
    assert await service.fail_lost_workers() == [run_id]
    run = await service.get_run(run_id)
    assert run.status is RunStatus.FAILED and run.failure_reason == WORKER_LOST
    assert run.transitions[-1].actor == "watchdog"
    assert (await events(db))[-1].endswith("RunFinished")
    # The dead worker's late report finds the run gone.
    assert (await service.report_progress(run_id, "w1", [], [])).lease_lost


async def test_runs_the_broker_refused_are_sent_again(
    service: TrainingService, dispatcher: Dispatcher, clock: Clock
) -> None:
    dispatcher.down = True
    run_id = await a_run(service)
    assert dispatcher.sent == []
    dispatcher.down = False
    clock.advance(10)
    assert await service.redispatch() == 1
    assert dispatcher.sent == [run_id]
    assert await service.redispatch() == 0
