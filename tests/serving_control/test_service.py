"""The control plane's use cases on SQLite and PostgreSQL: store round trips, outbox events, worker
heartbeats answering assignments, sweeps moving replicas off silent workers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from mlops.kernel.db import Database, migrate
from mlops.kernel.errors import AlreadyExists, FailedPrecondition, NotFound, ResourceExhausted
from mlops.kernel.tables import outbox
from services.serving.domain import Bundle, DeploymentState, ReplicaState, Resources, Traffic, TrafficPolicy
from services.serving.main import MIGRATIONS
from services.serving.placement import Worker
from services.serving.service import DeployCommand, ReplicaReport, ServingService, UpdateCommand

MB = 1024 * 1024


class Versions:
    """Model versions as the registry would answer; remembers the authorization forwarded."""

    def __init__(self) -> None:
        self.authorizations: list[str | None] = []

    async def bundle_of(self, model: str, number: int, authorization: str | None) -> Bundle:
        self.authorizations.append(authorization)
        if model == "missing":
            raise NotFound(f"no model version {model} v{number}")
        return Bundle(f"/bundles/{model}/{number}", "")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await asyncio.to_thread(migrate, database_url, MIGRATIONS)
    database = Database(database_url)
    yield database
    await database.dispose()


def worker(worker_id: str, memory: int = 1024 * MB) -> Worker:
    return Worker(worker_id, "cpu", f"{worker_id}:8001", memory, 4, 0.0, ["CPUExecutionProvider"])


async def event_types(db: Database) -> list[str]:
    async with db.sessions() as session:
        rows = await session.execute(select(outbox.c.subject).order_by(outbox.c.seq))
        return [subject.rsplit(".", 1)[-1] for (subject,) in rows]


async def test_deploy_update_rollback_stop_through_heartbeats(db: Database) -> None:
    clock, versions = Clock(), Versions()
    service = ServingService(db, versions, clock=clock, dead_after=timedelta(seconds=10))
    with pytest.raises(FailedPrecondition, match="no live worker"):
        await service.deploy("erin", DeployCommand("fraud", "m", 1), "Bearer t")
    await service.register_worker(worker("w1"))
    await service.register_worker(worker("w2"))
    deployed = await service.deploy(
        "erin", DeployCommand("fraud", "m", 1, replicas=2, resources=Resources(100 * MB, 1)), "Bearer t"
    )
    assert versions.authorizations[-1] == "Bearer t"
    assert deployed.state(clock.now) == DeploymentState.PENDING
    with pytest.raises(AlreadyExists):
        await service.deploy("erin", DeployCommand("fraud", "m", 1), None)
    with pytest.raises(ResourceExhausted, match="do not fit"):
        await service.deploy("erin", DeployCommand("big", "m", 1, replicas=3), None)

    (assigned,) = await service.heartbeat("w1", [], {})
    assert (assigned.deployment, assigned.revision.number, assigned.revision.bundle.uri) == (
        "fraud",
        1,
        "/bundles/m/1",
    )
    await service.heartbeat("w1", [ReplicaReport(assigned.replica_id, ReplicaState.READY, "", "CPU")], {})
    (other,) = await service.heartbeat("w2", [], {})
    await service.heartbeat(
        "w2", [ReplicaReport(other.replica_id, ReplicaState.READY)], {"fraud": Traffic(5)}
    )
    found = await service.get("fraud")
    assert found.state(clock.now) == DeploymentState.READY and found.last_request_at == clock.now
    assert (await service.metrics("fraud")).total.requests == 5

    updated = await service.update("erin", UpdateCommand("fraud", version=2), "Bearer t")
    assert updated.traffic.stable == 2 and updated.stable.version == 2
    (swapped,) = await service.heartbeat("w1", [], {})
    assert swapped.revision.number == 2 and swapped.revision.bundle.uri == "/bundles/m/2"

    canaried = await service.update("erin", UpdateCommand("fraud", version=3, canary_weight=10), None)
    assert (canaried.traffic.stable, canaried.traffic.canary) == (2, 3)
    await service.set_traffic(
        "fraud", TrafficPolicy(stable=2, canary=3, canary_weight=10, max_error_rate=0.1)
    )
    await service.heartbeat("w1", [], {"fraud@r3": Traffic(requests=10, errors=5)})
    await service.sweep()
    after = await service.get("fraud")
    assert after.traffic.canary == 0 and after.traffic.stable == 2

    rolled = await service.rollback("fraud", 1, "bad model")
    assert rolled.traffic.stable == 1
    (back,) = await service.heartbeat("w2", [], {})
    assert back.revision.number == 1 and [r.number for r in rolled.revisions] == [1, 2, 3]

    await service.stop("fraud", "done")
    assert await service.heartbeat("w1", [], {}) == []
    assert (await service.get("fraud")).state(clock.now) == DeploymentState.STOPPED
    await service.remove("fraud")
    with pytest.raises(NotFound):
        await service.get("fraud")
    assert await event_types(db) == [
        "ServiceDeployed",
        "ServiceUpdated",
        "ServiceUpdated",
        "ServiceUpdated",
        "ServiceRolledBack",
        "ServiceRolledBack",
        "ServiceStopped",
    ]


async def test_metrics_per_revision_summed_over_workers(db: Database) -> None:
    clock = Clock()
    service = ServingService(db, Versions(), clock=clock)
    for worker_id in ("w1", "w2"):
        await service.register_worker(worker(worker_id))
    await service.deploy("erin", DeployCommand("fraud", "m", 1, replicas=2), None)
    await service.update("erin", UpdateCommand("fraud", version=2, canary_weight=20), None)
    await service.update("erin", UpdateCommand("fraud", version=3, shadow=True), None)
    await service.heartbeat(
        "w1",
        [],
        {
            "fraud": Traffic(80, 1, 2.0, 9.0, 4.0, 1.0),
            "fraud@r2": Traffic(20, 2, 3.0, 20.0, 1.0, 0.5),
            # A shadow's copies come apart from what it answered (nothing, as a shadow).
            "fraud@r3": Traffic(),
            "fraud@r3#shadow": Traffic(100, 40, 1.0, 5.0, 2.0, 0.0),
            "other": Traffic(7),
        },
    )
    await service.heartbeat(
        "w2", [], {"fraud": Traffic(20, 0, 4.0, 8.0, 1.0, 2.0), "fraud@r2": Traffic(5, 0, 1.0, 2.0, 1.0, 0.5)}
    )

    observed = await service.metrics("fraud")
    by_role = {r.role: (r.revision, r.traffic) for r in observed.revisions}
    assert [r.role for r in observed.revisions] == ["stable", "canary", "shadow"]
    assert by_role["stable"] == (1, Traffic(100, 1, 4.0, 9.0, (80 * 4.0 + 20 * 1.0) / 100, 1.2))
    assert by_role["canary"] == (2, Traffic(25, 2, 3.0, 20.0, 1.0, 0.5))
    assert by_role["shadow"] == (3, Traffic(100, 40, 1.0, 5.0, 2.0, 0.0))
    # The shadow's copies were never answered: the totals are the stable's and the canary's.
    total = observed.total
    assert (total.requests, total.errors, total.latency_p50_ms, total.latency_p99_ms) == (125, 3, 4.0, 20.0)
    assert total.mean_batch_size == pytest.approx((100 * 3.4 + 25 * 1.0) / 125)
    assert (await service.get("fraud")).last_request_at == clock.now

    await service.promote("fraud")
    promoted = await service.metrics("fraud")
    assert [(r.revision, r.role) for r in promoted.revisions] == [(2, "stable"), (3, "shadow")]

    # The shadow made canary starts clean: its compared copies do not count against it.
    await service.set_traffic(
        "fraud", TrafficPolicy(stable=2, canary=3, canary_weight=50, max_error_rate=0.1)
    )
    await service.sweep()
    kept = await service.get("fraud")
    assert (kept.traffic.stable, kept.traffic.canary) == (2, 3)
    assert (
        next(r for r in (await service.metrics("fraud")).revisions if r.role == "canary").traffic.errors == 0
    )


async def test_silent_worker_loses_its_replicas_and_ttl_stops(db: Database) -> None:
    clock = Clock()
    service = ServingService(db, Versions(), clock=clock, dead_after=timedelta(seconds=10))
    await service.register_worker(worker("w1"))
    await service.register_worker(worker("w2"))
    await service.deploy("erin", DeployCommand("fraud", "m", 1, ttl_seconds=3600), None)
    (replica,) = (await service.get("fraud")).replicas
    survivor = "w2" if replica.worker_id == "w1" else "w1"
    clock.now += timedelta(seconds=30)
    with pytest.raises(NotFound):
        await service.heartbeat("nobody", [], {})
    await service.heartbeat(survivor, [], {})
    await service.sweep()
    (moved,) = (await service.get("fraud")).replicas
    assert moved.worker_id == survivor
    workers = dict((w.id, alive) for w, alive in await service.list_workers())
    assert workers == {replica.worker_id: False, survivor: True}

    clock.now += timedelta(seconds=30)  # both silent now: the replica fails with the reason
    await service.sweep()
    (failed,) = (await service.get("fraud")).replicas
    assert failed.state == ReplicaState.FAILED and "no live worker" in failed.reason
    assert (await service.get("fraud")).state(clock.now) == DeploymentState.FAILED
    clock.now += timedelta(hours=1)
    await service.sweep()
    assert (await service.get("fraud")).stopped_reason == "time to live expired"
