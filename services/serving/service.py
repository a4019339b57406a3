"""The serving control plane's use cases: deployments, revisions, traffic, and the worker pool.

One lock serialises every change: deployments and heartbeats read the whole pool to place replicas,
and the control plane is one process, so a lock is simpler and cheaper than retrying conflicts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from mlops.kernel.db import Database
from mlops.kernel.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.serving import events
from services.serving.domain import (
    DEFAULT_REQUEST_LOG_MAX_PAYLOAD_BYTES,
    DEFAULT_REQUEST_LOG_SAMPLE_RATE,
    Batching,
    Deployment,
    Replica,
    ReplicaState,
    Resources,
    Revision,
    Traffic,
    TrafficPolicy,
)
from services.serving.naming import SHADOW_SUFFIX
from services.serving.placement import Worker, place, require_placement
from services.serving.registry_client import ModelVersions
from services.serving.request_logs import Page, RequestLogReader
from services.serving.store import SqlServingStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeployCommand:
    name: str
    model: str
    version: int
    pool: str = "cpu"
    replicas: int = 1
    resources: Resources | None = None
    batching: Batching = field(default_factory=Batching)
    public: bool = False
    request_logging: bool = False
    request_log_sample_rate: float = DEFAULT_REQUEST_LOG_SAMPLE_RATE
    request_log_max_payload_bytes: int = DEFAULT_REQUEST_LOG_MAX_PAYLOAD_BYTES
    idle_after_seconds: int = 0
    ttl_seconds: int = 0


@dataclass(frozen=True)
class UpdateCommand:
    name: str
    model: str = ""
    version: int = 0
    resources: Resources | None = None
    batching: Batching | None = None
    canary_weight: int = 0
    shadow: bool = False
    request_logging: bool | None = None
    request_log_sample_rate: float | None = None
    request_log_max_payload_bytes: int | None = None

    @property
    def changes_request_logging(self) -> bool:
        settings = (self.request_logging, self.request_log_sample_rate, self.request_log_max_payload_bytes)
        return any(value is not None for value in settings)


@dataclass(frozen=True)
class ReplicaReport:
    replica_id: str
    state: ReplicaState
    reason: str = ""
    provider: str = ""


@dataclass(frozen=True)
class Assignment:
    replica_id: str
    deployment: str
    revision: Revision
    public: bool
    canary_weight: int = 0
    shadow: bool = False
    # 0: request logging off.
    request_log_sample_rate: float = 0.0
    request_log_max_payload_bytes: int = 0


def _assignment(deployment: Deployment, replica: Replica) -> Assignment:
    traffic = deployment.traffic
    beside = replica.revision != traffic.stable
    logging = deployment.request_logging
    return Assignment(
        replica.id,
        deployment.name,
        deployment.revision(replica.revision),
        deployment.public,
        canary_weight=traffic.canary_weight if beside and replica.revision == traffic.canary else 0,
        shadow=beside and replica.revision == traffic.shadow,
        request_log_sample_rate=deployment.request_log_sample_rate if logging else 0.0,
        request_log_max_payload_bytes=deployment.request_log_max_payload_bytes if logging else 0,
    )


@dataclass(frozen=True)
class RevisionTraffic:
    revision: int
    role: str  # stable, canary or shadow
    traffic: Traffic


@dataclass(frozen=True)
class DeploymentTraffic:
    """The requests a deployment answered (stable and canary) and each revision's share."""

    total: Traffic
    revisions: list[RevisionTraffic]


def utcnow() -> datetime:
    return datetime.now(UTC)


def merged(parts: Iterable[Traffic]) -> Traffic:
    """Counters add; means are weighted by requests; quantiles are the worst part's (an upper bound:
    workers send quantiles, not histograms, so they cannot be merged exactly)."""
    parts = list(parts)
    requests = sum(p.requests for p in parts)
    batches = sum(p.mean_batch_size * p.requests for p in parts)
    queued = sum(p.mean_queue_time_ms * p.requests for p in parts)
    return Traffic(
        requests=requests,
        errors=sum(p.errors for p in parts),
        latency_p50_ms=max((p.latency_p50_ms for p in parts), default=0.0),
        latency_p99_ms=max((p.latency_p99_ms for p in parts), default=0.0),
        mean_batch_size=batches / requests if requests else 0.0,
        mean_queue_time_ms=queued / requests if requests else 0.0,
    )


class ServingService:
    def __init__(
        self,
        db: Database,
        versions: ModelVersions,
        *,
        store: SqlServingStore | None = None,
        dead_after: timedelta = timedelta(seconds=10),
        default_resources: Resources = Resources(),
        clock: Callable[[], datetime] = utcnow,
        request_logs: RequestLogReader | None = None,
    ) -> None:
        self.db = db
        self.request_logs = request_logs
        self.versions = versions
        self.store = store or SqlServingStore()
        self.dead_after = dead_after
        self.default_resources = default_resources
        self.clock = clock
        self._lock = asyncio.Lock()
        # Traffic each worker last reported, per deployment: totals since that worker started.
        self._traffic: dict[str, dict[str, Traffic]] = {}

    # -- deployments --------------------------------------------------------------------------------

    async def deploy(self, by: str, command: DeployCommand, authorization: str | None) -> Deployment:
        bundle = await self.versions.bundle_of(command.model, command.version, authorization)
        now = self.clock()
        revision = Revision(
            1,
            command.model,
            command.version,
            bundle,
            command.resources or self.default_resources,
            command.batching,
            command.replicas,
            now,
            by,
            "deploy",
        )
        async with self._lock, self.db.transaction() as session:
            if await self.store.find(session, command.name) is not None:
                raise AlreadyExists(f"deployment {command.name} exists", field="name")
            deployment = Deployment.create(
                command.name,
                command.pool,
                by,
                now,
                revision,
                public=command.public,
                request_logging=command.request_logging,
                request_log_sample_rate=command.request_log_sample_rate,
                request_log_max_payload_bytes=command.request_log_max_payload_bytes,
                idle_after_seconds=command.idle_after_seconds,
                ttl_seconds=command.ttl_seconds,
            )
            await self._place(session, deployment, strict=True)
            await self.store.add(session, deployment)
            await events.deployed(session, deployment)
        return deployment

    async def get(self, name: str) -> Deployment:
        async with self.db.sessions() as session:
            return await self.store.get(session, name)

    async def deployments(self) -> list[Deployment]:
        async with self.db.sessions() as session:
            return await self.store.all(session)

    async def scale(self, by: str, name: str, replicas: int) -> Deployment:
        async with self._lock, self.db.transaction() as session:
            deployment = await self.store.get(session, name)
            revision = deployment.scale(replicas, self.clock(), by)
            await self._place(session, deployment, strict=True)
            await self.store.save(session, deployment)
            await events.updated(session, deployment, revision, f"scale to {replicas}")
        return deployment

    async def update(self, by: str, command: UpdateCommand, authorization: str | None) -> Deployment:
        async with self.db.sessions() as session:
            current = await self.store.get(session, command.name)
        changes: dict[str, object] = {}
        if command.model or command.version:
            model = command.model or current.stable.model
            if command.version < 1:
                raise InvalidArgument("a model version number starts at 1", field="model_version.number")
            bundle = await self.versions.bundle_of(model, command.version, authorization)
            changes.update(model=model, version=command.version, bundle=bundle)
        if command.resources is not None:
            changes["resources"] = command.resources
        if command.batching is not None:
            changes["batching"] = command.batching
        async with self._lock, self.db.transaction() as session:
            deployment = await self.store.get(session, command.name)
            if command.changes_request_logging:
                deployment.set_request_logging(
                    command.request_logging,
                    command.request_log_sample_rate,
                    command.request_log_max_payload_bytes,
                )
            if not changes:
                if not command.changes_request_logging:
                    raise InvalidArgument("nothing to update", field="name")
                await self.store.save(session, deployment)
                return deployment
            what = ", ".join(sorted(k for k in changes if k != "bundle"))
            revision = deployment.derive(self.clock(), by, f"update {what}", **changes)
            deployment.add_revision(revision, canary_weight=command.canary_weight, shadow=command.shadow)
            await self._place(session, deployment, strict=True)
            await self.store.save(session, deployment)
            mode = "canary" if command.canary_weight else "shadow" if command.shadow else "stable"
            await events.updated(session, deployment, revision, f"{mode}: {what}")
        return deployment

    async def set_traffic(self, name: str, policy: TrafficPolicy) -> Deployment:
        async with self._lock, self.db.transaction() as session:
            deployment = await self.store.get(session, name)
            deployment.set_traffic(policy)
            await self._place(session, deployment, strict=False)
            await self.store.save(session, deployment)
            stable = deployment.stable
            change = f"traffic: stable {stable.number}, canary {policy.canary} at {policy.canary_weight}%"
            await events.updated(session, deployment, stable, change)
        return deployment

    async def promote(self, name: str) -> Deployment:
        async with self._lock, self.db.transaction() as session:
            deployment = await self.store.get(session, name)
            number = deployment.promote()
            await self._place(session, deployment, strict=False)
            await self.store.save(session, deployment)
            await events.updated(session, deployment, deployment.revision(number), "promote")
        return deployment

    async def rollback(self, name: str, to_revision: int = 0, reason: str = "") -> Deployment:
        async with self._lock, self.db.transaction() as session:
            deployment = await self.store.get(session, name)
            await self._rollback(session, deployment, to_revision, reason or "rollback", automatic=False)
        return deployment

    async def _rollback(
        self, session: AsyncSession, deployment: Deployment, to_revision: int, reason: str, *, automatic: bool
    ) -> None:
        before, after = deployment.rollback(to_revision)
        # Rolling back must never be refused for want of room: what does not fit shows as failed.
        await self._place(session, deployment, strict=False)
        await self.store.save(session, deployment)
        await events.rolled_back(session, deployment, before, after, reason, automatic=automatic)

    async def stop(self, name: str, reason: str = "stopped") -> Deployment:
        async with self._lock, self.db.transaction() as session:
            deployment = await self.store.get(session, name)
            deployment.stop(reason)
            await self.store.save(session, deployment)
            await events.stopped(session, deployment, reason)
        return deployment

    async def remove(self, name: str) -> None:
        async with self._lock, self.db.transaction() as session:
            deployment = await self.store.get(session, name)
            if not deployment.stopped:
                await events.stopped(session, deployment, "removed")
            await self.store.remove(session, name)
        for traffic in self._traffic.values():
            traffic.pop(name, None)

    async def metrics(self, name: str) -> DeploymentTraffic:
        return self._deployment_traffic(await self.get(name))

    def _deployment_traffic(self, deployment: Deployment) -> DeploymentTraffic:
        policy = deployment.traffic
        roles = [("stable", policy.stable), ("canary", policy.canary), ("shadow", policy.shadow)]
        revisions = [
            RevisionTraffic(number, role, self._observed(_reported_name(deployment, number, role)))
            for role, number in roles
            if number
        ]
        # A shadow's copies were never answered to anyone: they stay out of the totals.
        answered = merged(r.traffic for r in revisions if r.role != "shadow")
        return DeploymentTraffic(answered, revisions)

    def _observed(self, hosted: str) -> Traffic:
        """One hosted model's traffic summed over the workers that report it."""
        return merged(t[hosted] for t in self._traffic.values() if hosted in t)

    async def _place(self, session: AsyncSession, deployment: Deployment, *, strict: bool) -> str:
        workers = await self.store.workers(session)
        others = [d for d in await self.store.all(session) if d.name != deployment.name and not d.stopped]
        reason = place(deployment, workers, others, self.clock(), self.dead_after)
        if strict:
            require_placement(reason, deployment.pool)
        return reason

    # -- request logs -------------------------------------------------------------------------------

    async def request_log(
        self,
        name: str,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        page_size: int = 0,
        page_token: str = "",
    ) -> Page:
        """What the workers logged for `name`; the logs outlive the deployment, so a removed one's
        records stay readable."""
        if self.request_logs is None:
            raise FailedPrecondition("this control plane has no object store to read request logs from")
        return await self.request_logs.page(name, start, end, page_size=page_size, page_token=page_token)

    # -- workers ------------------------------------------------------------------------------------

    async def register_worker(self, worker: Worker) -> None:
        now = self.clock()
        worker.registered_at = worker.last_heartbeat = now
        async with self._lock, self.db.transaction() as session:
            await self.store.put_worker(session, worker)
        log.info("worker registered", extra={"fields": {"worker": worker.id, "pool": worker.pool}})

    async def list_workers(self, pool: str = "") -> list[tuple[Worker, bool]]:
        now = self.clock()
        async with self.db.sessions() as session:
            workers = await self.store.workers(session)
        return [(w, w.alive(now, self.dead_after)) for w in workers if not pool or w.pool == pool]

    async def heartbeat(
        self, worker_id: str, reports: Iterable[ReplicaReport], traffic: dict[str, Traffic]
    ) -> list[Assignment]:
        """Records what the worker reports and answers what it should host."""
        by_id = {r.replica_id: r for r in reports}
        now = self.clock()
        async with self._lock, self.db.transaction() as session:
            worker = await self.store.find_worker(session, worker_id)
            if worker is None:
                raise NotFound(f"worker {worker_id} is not registered", field="worker_id")
            was_alive = worker.alive(now, self.dead_after)
            worker.last_heartbeat = now
            await self.store.put_worker(session, worker)
            self._traffic[worker_id] = traffic
            # Canaries and shadows are reported as `<deployment>@r<revision>`.
            reported = {hosted.split("@r", 1)[0] for hosted in traffic}
            assignments: list[Assignment] = []
            for deployment in await self.store.all(session):
                if deployment.stopped:
                    continue
                changed = False
                if not was_alive and any(not r.worker_id for r in deployment.replicas):
                    # A worker came back: what found no place may fit now.
                    await self._place(session, deployment, strict=False)
                    changed = True
                for replica in deployment.replicas:
                    report = by_id.get(replica.id)
                    if replica.worker_id == worker_id and report is not None:
                        changed |= deployment.report(replica.id, report.state, report.reason, report.provider)
                if deployment.name in reported:
                    before = deployment.last_request_at
                    deployment.observe(self._deployment_traffic(deployment).total, now)
                    changed |= before != deployment.last_request_at
                if changed:
                    await self.store.save(session, deployment)
                assignments.extend(
                    _assignment(deployment, r) for r in deployment.replicas if r.worker_id == worker_id
                )
        return assignments

    # -- housekeeping -------------------------------------------------------------------------------

    async def sweep(self) -> None:
        """Moves replicas off dead workers, rolls back breaching canaries, stops expired deployments."""
        now = self.clock()
        async with self._lock, self.db.transaction() as session:
            for deployment in await self.store.all(session):
                if deployment.stopped:
                    continue
                if deployment.ttl_expired(now):
                    deployment.stop("time to live expired")
                    await self.store.save(session, deployment)
                    await events.stopped(session, deployment, "time to live expired")
                    continue
                breach = deployment.canary_breach(self._canary_traffic(deployment))
                if breach:
                    await self._rollback(
                        session, deployment, deployment.traffic.stable, breach, automatic=True
                    )
                    continue
                before = [(r.id, r.worker_id) for r in deployment.replicas]
                reason = await self._place(session, deployment, strict=False)
                if before != [(r.id, r.worker_id) for r in deployment.replicas]:
                    if reason:
                        log.warning(
                            "replicas without a place",
                            extra={"fields": {"deployment": deployment.name, "reason": reason}},
                        )
                    await self.store.save(session, deployment)

    def _canary_traffic(self, deployment: Deployment) -> Traffic:
        # Workers report a canary's traffic under `<deployment>@r<revision>`.
        if not deployment.traffic.canary:
            return Traffic()
        return self._observed(_hosted_name(deployment, deployment.traffic.canary))

    async def run_sweeps(self, interval: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sweep()
            except Exception:
                log.exception("serving sweep failed")
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                pass


def _reported_name(deployment: Deployment, revision: int, role: str) -> str:
    hosted = _hosted_name(deployment, revision)
    return f"{hosted}{SHADOW_SUFFIX}" if role == "shadow" else hosted


def _hosted_name(deployment: Deployment, revision: int) -> str:
    # Workers host the stable under the deployment's name and a canary or shadow beside it.
    return deployment.name if revision == deployment.traffic.stable else f"{deployment.name}@r{revision}"
