"""Placement of replicas on serving workers. Pure: takes the pool's state, returns where replicas go.

A worker hosts one replica per deployment (the data plane keys models by deployment name and hot
swaps revisions in place), so the replicas of one deployment always land on distinct workers, and a
new revision's replicas prefer the workers already hosting the deployment: the swap then happens
inside one process with zero failed requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mlops.kernel.errors import FailedPrecondition, ResourceExhausted
from services.serving.domain import Deployment, Replica, ReplicaState, Resources


@dataclass
class Worker:
    id: str
    pool: str
    address: str
    memory_bytes: int
    threads: int
    gpu_capacity: float
    providers: list[str] = field(default_factory=list)
    last_heartbeat: datetime | None = None
    registered_at: datetime | None = None

    def alive(self, now: datetime, dead_after: timedelta) -> bool:
        seen = self.last_heartbeat or self.registered_at
        return seen is not None and now - seen < dead_after


@dataclass
class _Free:
    memory: int
    threads: int
    gpu: float

    def fits(self, need: Resources) -> bool:
        return (
            need.memory_bytes <= self.memory
            and need.threads <= self.threads
            and need.gpu_share <= self.gpu + 1e-9
        )

    def take(self, need: Resources) -> None:
        self.memory -= need.memory_bytes
        self.threads -= need.threads
        self.gpu -= need.gpu_share


def _free_capacity(workers: Iterable[Worker], others: Iterable[Deployment]) -> dict[str, _Free]:
    free = {w.id: _Free(w.memory_bytes, w.threads, w.gpu_capacity) for w in workers}
    for deployment in others:
        for replica in deployment.replicas:
            if replica.worker_id in free:
                free[replica.worker_id].take(deployment.revision(replica.revision).resources)
    return free


def place(
    deployment: Deployment,
    workers: Sequence[Worker],
    others: Iterable[Deployment],
    now: datetime,
    dead_after: timedelta,
) -> str:
    """Sets `deployment.replicas` to the stable revision's replicas on live workers of its pool, and a
    canary's (or shadow's) beside each of them: the worker splits or mirrors traffic between the two.

    Replicas already on a live worker stay; the rest go where capacity is free. Returns "" when every
    replica found a place, else the reason (the replicas that fit are placed all the same).
    """
    revision = deployment.stable
    live = [w for w in workers if w.pool == deployment.pool and w.alive(now, dead_after)]
    live_ids = {w.id for w in live}
    free = _free_capacity(live, others)
    previous = {r.id: r for r in deployment.replicas}
    current: dict[str, Replica] = {}
    # One stable slot per worker: the replica already on the stable revision wins over any other.
    for r in sorted(deployment.replicas, key=lambda r: r.revision == revision.number):
        if r.worker_id in live_ids:
            current[r.worker_id] = r
    placed: list[Replica] = []
    # Same revision on a live worker: keep it as it is; another revision: swap in place on that worker.
    for worker_id, replica in sorted(current.items(), key=lambda item: item[1].revision != revision.number):
        if len(placed) == revision.replicas or not free[worker_id].fits(revision.resources):
            continue
        free[worker_id].take(revision.resources)
        if replica.revision == revision.number and replica.state != ReplicaState.DRAINING:
            placed.append(replica)
        else:
            placed.append(
                Replica(_replica_id(deployment.name, revision.number, worker_id), worker_id, revision.number)
            )
    taken = {r.worker_id for r in placed}
    # Most free memory first spreads replicas over the pool.
    for worker in sorted(live, key=lambda w: (-free[w.id].memory, w.id)):
        if len(placed) == revision.replicas:
            break
        if worker.id in taken or not free[worker.id].fits(revision.resources):
            continue
        free[worker.id].take(revision.resources)
        placed.append(
            Replica(_replica_id(deployment.name, revision.number, worker.id), worker.id, revision.number)
        )
    missing = revision.replicas - len(placed)
    reason = _shortfall(deployment, revision.resources, missing, len(live)) if missing else ""
    # What found no place is shown as failed with the reason, and placed again on a later sweep.
    unplaced = [
        Replica(
            f"{deployment.name}-r{revision.number}-unplaced-{i}",
            "",
            revision.number,
            ReplicaState.FAILED,
            reason,
        )
        for i in range(missing)
    ]
    deployment.replicas = placed + unplaced + _beside(deployment, placed, free, previous)
    return reason


def _beside(
    deployment: Deployment, stable: list[Replica], free: dict[str, _Free], previous: dict[str, Replica]
) -> list[Replica]:
    """The canary's or shadow's replicas, one next to each stable replica that has room for it."""
    number = deployment.traffic.canary or deployment.traffic.shadow
    if not number:
        return []
    need = deployment.revision(number).resources
    placed = []
    for replica in stable:
        if not free[replica.worker_id].fits(need):
            continue
        free[replica.worker_id].take(need)
        replica_id = _replica_id(deployment.name, number, replica.worker_id)
        placed.append(previous.get(replica_id) or Replica(replica_id, replica.worker_id, number))
    return placed


def _shortfall(deployment: Deployment, need: Resources, missing: int, live: int) -> str:
    revision = deployment.stable
    if not live:
        return f"no live worker in pool {deployment.pool}"
    return (
        f"{missing} of {revision.replicas} replicas do not fit in pool {deployment.pool} "
        f"({live} live workers; each replica needs {need.memory_bytes} bytes, {need.threads} threads"
        f"{f', {need.gpu_share} GPU' if need.gpu_share else ''}, on a worker of its own)"
    )


def require_placement(reason: str, pool: str) -> None:
    """Refuses a deploy or change whose replicas do not all fit."""
    if not reason:
        return
    if reason.startswith("no live worker"):
        raise FailedPrecondition(reason, field="pool")
    raise ResourceExhausted(reason, field="replicas")


def _replica_id(deployment: str, revision: int, worker_id: str) -> str:
    return f"{deployment}-r{revision}@{worker_id}"
