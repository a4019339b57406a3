"""The training store against SQLite and PostgreSQL: runs, transitions, leases, metrics, logs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from mlops.kernel.db import Database, migrate_async
from services.training.domain import Artifact, CodeVersion, DatasetRef, Run, RunStatus
from services.training.main import MIGRATIONS
from services.training.store import MetricRecord, RunFilter, RunRepository

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await migrate_async(database_url, MIGRATIONS)
    database = Database(database_url)
    yield database
    await database.dispose()


def a_run(run_id: str = "r1", **overrides: object) -> Run:
    fields: dict[str, object] = {
        "id": run_id,
        "name": f"run-{run_id}",
        "owner": "sam",
        "dataset": DatasetRef("d1", 2, "f" * 64),
        "algorithm_id": "text_classification",
        "algorithm_version": "1.0.0",
        "parameters": {"epochs": 2, "lr": 0.1},
        "defaulted_parameters": ["lr"],
        "seed": 3,
        "pool": "cpu",
        "code_version": CodeVersion("0.1.0", "abc", {"torch": "2.13.0"}),
        "idempotency_key": f"key-{run_id}",
        "request_digest": "rd",
        "inputs_digest": "in",
    }
    fields.update(overrides)
    return Run.queue(at=T0, **fields)  # type: ignore[arg-type]


async def test_a_run_round_trips_with_its_transitions_and_artifacts(db: Database) -> None:
    run = a_run()
    async with db.transaction() as session:
        await RunRepository(session).add(run)
    run.start(T0 + timedelta(seconds=1), "w1")
    run.finish(
        RunStatus.SUCCEEDED,
        T0 + timedelta(seconds=2),
        "w1",
        summary_metrics={"f1": 0.5},
        artifacts=[Artifact("bundle.zip", "s3://b/k", "a" * 64, 10, "application/zip")],
    )
    async with db.transaction() as session:
        await RunRepository(session).save(run)
    async with db.transaction() as session:
        loaded = await RunRepository(session).get("r1")
    assert loaded is not None
    assert loaded.status is RunStatus.SUCCEEDED
    assert [tr.status for tr in loaded.transitions] == [
        RunStatus.QUEUED,
        RunStatus.RUNNING,
        RunStatus.SUCCEEDED,
    ]
    assert loaded.transitions[1].at == T0 + timedelta(seconds=1)
    assert loaded.parameters == {"epochs": 2, "lr": 0.1}
    assert loaded.defaulted_parameters == ["lr"]
    assert loaded.code_version.library_versions == {"torch": "2.13.0"}
    assert loaded.artifacts[0].sha256 == "a" * 64
    assert loaded.summary_metrics == {"f1": 0.5}


async def test_an_idempotency_key_is_unique_per_owner(db: Database) -> None:
    async with db.transaction() as session:
        await RunRepository(session).add(a_run("r1", idempotency_key="k"))
        await RunRepository(session).add(a_run("r2", idempotency_key="k", owner="ada"))
        await RunRepository(session).add(a_run("r3", idempotency_key=""))
        await RunRepository(session).add(a_run("r4", idempotency_key=""))
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            await RunRepository(session).add(a_run("r5", idempotency_key="k"))
    async with db.transaction() as session:
        found = await RunRepository(session).by_idempotency_key("sam", "k")
    assert found is not None and found.id == "r1"


async def test_counts_duplicates_and_listing(db: Database) -> None:
    async with db.transaction() as session:
        repo = RunRepository(session)
        await repo.add(a_run("r1"))
        running = a_run("r2", inputs_digest="other")
        running.start(T0, "w")
        await repo.add(running)
        done = a_run("r3", owner="ada")
        done.request_stop(T0, "ada", "")
        await repo.add(done)
    async with db.transaction() as session:
        repo = RunRepository(session)
        assert await repo.count_active_of("sam") == 2
        assert await repo.count_active_of("ada") == 0
        assert await repo.count_running_in("cpu") == 1
        duplicate = await repo.active_duplicate("in")
        assert duplicate is not None and duplicate.id == "r1"
        runs, total = await repo.find(RunFilter(owner="sam"), 0, 10)
        assert total == 2 and {r.id for r in runs} == {"r1", "r2"}
        runs, total = await repo.find(RunFilter(status="cancelled"), 0, 10)
        assert [r.id for r in runs] == ["r3"]


async def test_a_lease_has_one_holder_until_it_expires(db: Database) -> None:
    async with db.transaction() as session:
        await RunRepository(session).add(a_run())
    async with db.transaction() as session:
        repo = RunRepository(session)
        assert await repo.take_lease("r1", "w1", T0, T0 + timedelta(seconds=30))
        assert not await repo.take_lease("r1", "w2", T0 + timedelta(seconds=10), T0 + timedelta(seconds=40))
        assert await repo.take_lease("r1", "w1", T0 + timedelta(seconds=10), T0 + timedelta(seconds=40))
        assert not await repo.renew_lease("r1", "w2", T0 + timedelta(seconds=60))
        assert await repo.take_lease("r1", "w2", T0 + timedelta(seconds=50), T0 + timedelta(seconds=80))
        holder, expires = await repo.lease_of("r1")
        assert holder == "w2" and expires == T0 + timedelta(seconds=80)


async def test_running_runs_with_an_expired_lease_are_found(db: Database) -> None:
    run = a_run()
    run.start(T0, "w1")
    async with db.transaction() as session:
        repo = RunRepository(session)
        await repo.add(run)
        await repo.take_lease("r1", "w1", T0, T0 + timedelta(seconds=30))
    async with db.transaction() as session:
        repo = RunRepository(session)
        assert await repo.expired_runs(T0 + timedelta(seconds=10)) == []
        assert await repo.expired_runs(T0 + timedelta(seconds=31)) == ["r1"]


async def test_metrics_go_in_bulk_and_come_back_downsampled(db: Database) -> None:
    async with db.transaction() as session:
        await RunRepository(session).add(a_run())
    points = [MetricRecord("loss", step, 1.0 / (step + 1), T0) for step in range(5000)]
    points[2500] = MetricRecord("loss", 2500, 99.0, T0)  # a spike that must survive downsampling
    points += [MetricRecord("acc", step, step / 10, T0) for step in range(10)]
    async with db.transaction() as session:
        await RunRepository(session).append_metrics("r1", points)
    async with db.transaction() as session:
        repo = RunRepository(session)
        assert await repo.metric_keys("r1") == ["acc", "loss"]
        series, total = await repo.metric_series("r1", "loss", 100)
        assert total == 5000
        assert len(series) <= 100
        assert max(p.value for p in series) == 99.0
        assert [p.step for p in series] == sorted(p.step for p in series)
        full, total = await repo.metric_series("r1", "acc", 100)
        assert total == 10 and [p.step for p in full] == list(range(10))
        assert full[0].at == T0


async def test_logs_get_sequence_numbers_per_run(db: Database) -> None:
    async with db.transaction() as session:
        repo = RunRepository(session)
        assert await repo.append_logs("r1", [(T0, "stdout", "a"), (T0, "stderr", "b")]) == 2
        assert await repo.append_logs("r2", [(T0, "stdout", "x")]) == 1
        assert await repo.append_logs("r1", [(T0, "stdout", "c")]) == 3
    async with db.transaction() as session:
        repo = RunRepository(session)
        assert [line.text for line in await repo.logs("r1", 0, 10)] == ["a", "b", "c"]
        assert [line.seq for line in await repo.logs("r1", 1, 1)] == [2]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_history_of_100k_points_downsamples_to_1000(db: Database) -> None:
    # Its speed is measured by bench/training/run.py, not here.
    points = [MetricRecord("loss", step, (step % 997) / 997, T0) for step in range(100_000)]
    async with db.transaction() as session:
        await RunRepository(session).append_metrics("r1", points)
    async with db.transaction() as session:
        series, total = await RunRepository(session).metric_series("r1", "loss", 1000)
    assert total == 100_000 and 500 <= len(series) <= 1000
    steps = [point.step for point in series]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == 99_999
