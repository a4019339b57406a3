"""Deployment rules and placement, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlops.kernel.errors import FailedPrecondition, InvalidArgument, ResourceExhausted
from services.serving.domain import (
    Batching,
    Bundle,
    Deployment,
    DeploymentState,
    ReplicaState,
    Resources,
    Revision,
    Traffic,
    TrafficPolicy,
)
from services.serving.placement import Worker, place, require_placement

NOW = datetime(2026, 1, 1, tzinfo=UTC)
DEAD_AFTER = timedelta(seconds=10)
MB = 1024 * 1024


def revision(number: int, version: int = 1, replicas: int = 1, memory: int = 100 * MB) -> Revision:
    return Revision(
        number,
        "fraud",
        version,
        Bundle("s3://b/k", "ab"),
        Resources(memory, 1),
        Batching(),
        replicas,
        NOW,
        "erin",
    )


def deployment(**options: object) -> Deployment:
    return Deployment.create("fraud", "cpu", "erin", NOW, revision(1), **options)


def worker(worker_id: str, memory: int = 1024 * MB, seen: datetime = NOW) -> Worker:
    return Worker(worker_id, "cpu", f"{worker_id}:8001", memory, 2, 0.0, ["CPUExecutionProvider"], seen)


def test_revisions_canary_promote_and_rollback_to_any_earlier_revision() -> None:
    d = deployment()
    d.add_revision(d.derive(NOW, "erin", "v2", version=2))
    assert d.traffic.stable == 2 and d.stable.version == 2
    d.add_revision(d.derive(NOW, "erin", "v3", version=3), canary_weight=10)
    assert (d.traffic.stable, d.traffic.canary, d.traffic.canary_weight) == (2, 3, 10)
    assert d.promote() == 3 and d.traffic.canary == 0 and d.traffic.stable == 3
    assert d.rollback() == (3, 2) and d.traffic.stable == 2
    assert d.rollback(1) == (2, 1) and d.stable.version == 1
    d.scale(3, NOW, "erin")
    assert d.stable.replicas == 3 and d.stable.number == 4 and d.stable.version == 1
    with pytest.raises(FailedPrecondition):
        d.promote()
    with pytest.raises(InvalidArgument):
        d.set_traffic(TrafficPolicy(stable=4, canary=2, canary_weight=0))


def test_canary_breach_idle_ttl_and_stop() -> None:
    d = deployment(idle_after_seconds=60, ttl_seconds=3600)
    d.add_revision(d.derive(NOW, "erin", "v2", version=2), canary_weight=20)
    d.set_traffic(
        TrafficPolicy(stable=1, canary=2, canary_weight=20, max_error_rate=0.1, max_p99_latency_ms=50)
    )
    assert d.canary_breach(Traffic(requests=100, errors=5, latency_p99_ms=10)) == ""
    assert "error rate" in d.canary_breach(Traffic(requests=100, errors=20))
    assert "p99" in d.canary_breach(Traffic(requests=100, latency_p99_ms=80))
    assert not d.is_idle(NOW + timedelta(seconds=30)) and d.is_idle(NOW + timedelta(seconds=61))
    d.observe(Traffic(requests=3), NOW + timedelta(seconds=100))
    assert not d.is_idle(NOW + timedelta(seconds=130))
    assert d.ttl_expired(NOW + timedelta(hours=2))
    d.stop("done")
    assert d.state(NOW) == DeploymentState.STOPPED and d.replicas == []
    with pytest.raises(FailedPrecondition):
        d.scale(2, NOW, "erin")


def test_placement_spreads_refuses_and_moves_off_dead_workers() -> None:
    d = deployment()
    d.scale(2, NOW, "erin")
    workers = [worker("w1"), worker("w2")]
    assert place(d, workers, [], NOW, DEAD_AFTER) == ""
    assert sorted(r.worker_id for r in d.replicas) == ["w1", "w2"]
    for r in d.replicas:
        d.report(r.id, ReplicaState.READY, "", "CPUExecutionProvider")
    assert d.state(NOW) == DeploymentState.READY

    # A new revision swaps in place, on the same workers.
    d.add_revision(d.derive(NOW, "erin", "v2", version=2))
    place(d, workers, [], NOW, DEAD_AFTER)
    assert sorted((r.worker_id, r.revision) for r in d.replicas) == [("w1", 3), ("w2", 3)]

    # w2 stops heartbeating: its replica moves to w3, or fails with the reason when nowhere fits.
    later = NOW + timedelta(seconds=30)
    workers = [worker("w1", seen=later), worker("w2"), worker("w3", seen=later)]
    assert place(d, workers, [], later, DEAD_AFTER) == ""
    assert sorted(r.worker_id for r in d.replicas) == ["w1", "w3"]
    reason = place(d, workers[:2], [], later, DEAD_AFTER)
    assert "do not fit" in reason
    assert [r.state for r in d.replicas if not r.worker_id] == [ReplicaState.FAILED]
    with pytest.raises(ResourceExhausted):
        require_placement(reason, "cpu")
    with pytest.raises(FailedPrecondition):
        require_placement(place(d, [], [], later, DEAD_AFTER), "cpu")


def test_capacity_counts_other_deployments() -> None:
    big = Deployment.create("big", "cpu", "erin", NOW, revision(1, memory=1000 * MB))
    assert place(big, [worker("w1")], [], NOW, DEAD_AFTER) == ""
    small = deployment()
    assert "do not fit" in place(small, [worker("w1")], [big], NOW, DEAD_AFTER)
