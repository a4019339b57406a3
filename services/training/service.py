"""The training service's use cases: start, stop, retry and reproduce runs; what workers report.

Each use case is one transaction: load the run, ask the aggregate to change, store it, and record
its event in the outbox, so the state and the event commit together.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError

from mlops.algorithms.registry import AlgorithmRegistry
from mlops.api.common.v1 import common_pb2
from mlops.api.events.v1 import events_pb2
from mlops.kernel.auth import Permission, Principal
from mlops.kernel.db import Database, serialise_transaction
from mlops.kernel.errors import FailedPrecondition, InvalidArgument, NotFound
from mlops.kernel.events import record_event
from services.training.domain import (
    Artifact,
    CodeVersion,
    ConcurrencyLimits,
    DatasetRef,
    Run,
    RunStatus,
    authorize_retry,
    authorize_stop,
    check_duplicate,
    check_idempotent_replay,
    check_user_limit,
    inputs_digest,
    pool_has_room,
    request_digest,
    resolve_parameters,
)
from services.training.live import LivePublisher, progress_message
from services.training.store import MetricRecord, RunFilter, RunRepository, SeriesPoint

log = logging.getLogger(__name__)

SOURCE = "training"
POOLS = ("cpu", "gpu")
# The artifact whose hash tells whether a reproduction gave the same model.
MODEL_ARTIFACT = "model.onnx"


class DatasetCatalog(Protocol):
    async def published_version(self, dataset_id: str, number: int, authorization: str | None) -> DatasetRef:
        """The version's reference with its manifest digest; NotFound or FailedPrecondition otherwise."""


class Dispatcher(Protocol):
    async def dispatch(self, run_id: str, pool: str) -> None:
        """Hand the run to a worker of the pool (a Celery task); raises when the broker is unreachable."""


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class StartRequest:
    name: str
    dataset_id: str
    dataset_version: int
    algorithm_id: str
    algorithm_version: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    preset: str = ""
    seed: int = 0
    pool: str = ""
    idempotency_key: str = ""
    allow_duplicate: bool = False

    def digest(self) -> str:
        return request_digest(
            {
                "name": self.name,
                "dataset": [self.dataset_id, self.dataset_version],
                "algorithm": [self.algorithm_id, self.algorithm_version],
                "parameters": self.parameters,
                "preset": self.preset,
                "seed": self.seed,
                "pool": self.pool,
                "allow_duplicate": self.allow_duplicate,
            }
        )


@dataclass(frozen=True)
class ClaimOutcome:
    granted: bool
    run: Run | None = None
    reason: str = ""
    retry_after_seconds: float = 0.0


@dataclass(frozen=True)
class ProgressOutcome:
    stop_requested: bool
    lease_lost: bool


@dataclass(frozen=True)
class ServiceConfig:
    limits: ConcurrencyLimits = field(default_factory=ConcurrencyLimits)
    lease_seconds: float = 30.0
    pool_full_retry_seconds: float = 5.0


class TrainingService:
    def __init__(
        self,
        db: Database,
        algorithms: AlgorithmRegistry,
        datasets: DatasetCatalog,
        dispatcher: Dispatcher,
        code_version: CodeVersion,
        config: ServiceConfig | None = None,
        clock: Callable[[], datetime] = utcnow,
        live: LivePublisher | None = None,
    ) -> None:
        self.db = db
        self.live = live or LivePublisher()
        self.algorithms = algorithms
        self.datasets = datasets
        self.dispatcher = dispatcher
        self.code_version = code_version
        self.config = config or ServiceConfig()
        self.clock = clock

    # --- starting runs ------------------------------------------------------------------------------

    async def start_run(self, caller: Principal, request: StartRequest, authorization: str | None) -> Run:
        if not request.dataset_id:
            raise InvalidArgument("a dataset version is required", field="dataset.dataset_id")
        if request.dataset_version <= 0:
            raise InvalidArgument("a published version number is required", field="dataset.number")
        algorithm = self.algorithms.get(request.algorithm_id)
        if request.algorithm_version and request.algorithm_version != algorithm.version:
            raise FailedPrecondition(
                f"installed is {algorithm.id} {algorithm.version}, not {request.algorithm_version}",
                field="algorithm_version",
            )
        pool = request.pool or "cpu"
        if pool not in POOLS:
            raise InvalidArgument(f"pool must be one of {', '.join(POOLS)}", field="pool")
        resolved = resolve_parameters(
            algorithm.parameter_schema(), algorithm.presets(), request.parameters, request.preset
        )
        digest_of_request = request.digest()
        if request.idempotency_key:
            async with self.db.transaction() as session:
                existing = await RunRepository(session).by_idempotency_key(
                    caller.subject, request.idempotency_key
                )
            if existing is not None:
                return check_idempotent_replay(existing, digest_of_request)
        dataset = await self.datasets.published_version(
            request.dataset_id, request.dataset_version, authorization
        )
        run_id = uuid.uuid4().hex
        run = Run.queue(
            at=self.clock(),
            id=run_id,
            name=request.name or f"{algorithm.id.replace('_', '-')}-{run_id[:8]}",
            owner=caller.subject,
            dataset=dataset,
            algorithm_id=algorithm.id,
            algorithm_version=algorithm.version,
            parameters=resolved.values,
            defaulted_parameters=resolved.defaulted,
            preset=request.preset,
            seed=request.seed or secrets.randbelow(2**31 - 1) + 1,
            pool=pool,
            code_version=self.code_version,
            idempotency_key=request.idempotency_key,
            request_digest=digest_of_request,
            inputs_digest=inputs_digest(dataset, algorithm.id, algorithm.version, resolved.values),
        )
        try:
            await self._queue(run, request.allow_duplicate)
        except IntegrityError:
            # A concurrent request with the same idempotency key won the insert.
            async with self.db.transaction() as session:
                existing = await RunRepository(session).by_idempotency_key(
                    caller.subject, request.idempotency_key
                )
            if existing is None:
                raise
            return check_idempotent_replay(existing, digest_of_request)
        await self._dispatch(run)
        return run

    async def _queue(self, run: Run, allow_duplicate: bool) -> None:
        async with self.db.transaction() as session:
            # The user limit and the duplicate check read before the insert: concurrent StartRuns take turns.
            await serialise_transaction(session, "training.queue-run")
            repo = RunRepository(session)
            check_user_limit(self.config.limits, run.owner, await repo.count_active_of(run.owner))
            check_duplicate(await repo.active_duplicate(run.inputs_digest), allow_duplicate)
            await repo.add(run)
            await record_event(
                session,
                events_pb2.RunQueued(
                    run_id=run.id,
                    dataset_id=run.dataset.dataset_id,
                    dataset_version=run.dataset.number,
                    algorithm_id=run.algorithm_id,
                    algorithm_version=run.algorithm_version,
                    owner=run.owner,
                    pool=run.pool,
                ),
                source=SOURCE,
                subject=run.id,
            )

    async def _dispatch(self, run: Run) -> None:
        await self._dispatch_id(run.id, run.pool)

    async def _dispatch_id(self, run_id: str, pool: str) -> None:
        """Send the Celery task; when the broker is down the run stays queued and the watchdog resends."""
        try:
            await self.dispatcher.dispatch(run_id, pool)
        except Exception:
            log.warning("could not dispatch run %s; will retry", run_id, exc_info=True)
            return
        async with self.db.transaction() as session:
            await RunRepository(session).mark_dispatched(run_id, self.clock())

    async def redispatch(self, older_than_seconds: float = 5.0) -> int:
        async with self.db.transaction() as session:
            pending = await RunRepository(session).undispatched(
                self.clock() - timedelta(seconds=older_than_seconds)
            )
        for run_id, pool in pending:
            await self._dispatch_id(run_id, pool)
        return len(pending)

    async def retry_run(
        self, caller: Principal, run_id: str, idempotency_key: str, authorization: str | None
    ) -> Run:
        original = await self.get_run(run_id)
        authorize_retry(original, caller.subject, caller.can(Permission.TRAINING_OPERATE))
        return await self._rerun(caller, original, idempotency_key, authorization, retry=True)

    async def reproduce_run(
        self, caller: Principal, run_id: str, idempotency_key: str, authorization: str | None
    ) -> Run:
        original = await self.get_run(run_id)
        if original.status is not RunStatus.SUCCEEDED:
            raise FailedPrecondition(
                f"only a succeeded run can be reproduced; {original.name} is {original.status.value}",
                field="run_id",
            )
        return await self._rerun(caller, original, idempotency_key, authorization, retry=False)

    async def _rerun(
        self,
        caller: Principal,
        original: Run,
        idempotency_key: str,
        authorization: str | None,
        *,
        retry: bool,
    ) -> Run:
        kind = "retry" if retry else "reproduction"
        digest_of_request = request_digest({kind: original.id})
        if idempotency_key:
            async with self.db.transaction() as session:
                existing = await RunRepository(session).by_idempotency_key(caller.subject, idempotency_key)
            if existing is not None:
                return check_idempotent_replay(existing, digest_of_request)
        dataset = await self.datasets.published_version(
            original.dataset.dataset_id, original.dataset.number, authorization
        )
        if original.dataset.manifest_digest and dataset.manifest_digest != original.dataset.manifest_digest:
            raise FailedPrecondition("the dataset version's manifest changed since the run", field="dataset")
        run_id = uuid.uuid4().hex
        run = Run.queue(
            at=self.clock(),
            id=run_id,
            name=f"{original.name}-{kind}-{run_id[:6]}",
            owner=caller.subject,
            dataset=dataset,
            algorithm_id=original.algorithm_id,
            algorithm_version=original.algorithm_version,
            parameters=dict(original.parameters),
            defaulted_parameters=list(original.defaulted_parameters),
            preset=original.preset,
            seed=original.seed,
            pool=original.pool,
            code_version=self.code_version,
            idempotency_key=idempotency_key,
            request_digest=digest_of_request,
            inputs_digest=original.inputs_digest,
            retry_of=original.id if retry else "",
            reproduction_of="" if retry else original.id,
        )
        await self._queue(run, allow_duplicate=True)
        await self._dispatch(run)
        return run

    # --- reading ------------------------------------------------------------------------------------

    async def get_run(self, run_id: str) -> Run:
        async with self.db.transaction() as session:
            run = await RunRepository(session).get(run_id)
        if run is None:
            raise NotFound(f"no run {run_id!r}", field="run_id")
        return run

    async def list_runs(self, where: RunFilter, offset: int, limit: int) -> tuple[list[Run], int]:
        async with self.db.transaction() as session:
            return await RunRepository(session).find(where, offset, limit)

    async def metric_history(
        self, run_id: str, keys: Sequence[str], max_points: int
    ) -> list[tuple[str, list[SeriesPoint], int]]:
        await self.get_run(run_id)
        async with self.db.transaction() as session:
            repo = RunRepository(session)
            wanted = list(keys) or await repo.metric_keys(run_id)
            result = []
            for key in wanted:
                points, total = await repo.metric_series(run_id, key, max_points)
                result.append((key, points, total))
        return result

    async def logs(self, run_id: str, after_seq: int, limit: int) -> list[Any]:
        await self.get_run(run_id)
        async with self.db.transaction() as session:
            return await RunRepository(session).logs(run_id, after_seq, limit)

    # --- stopping -----------------------------------------------------------------------------------

    async def stop_run(self, caller: Principal, run_id: str, confirm_name: str, reason: str) -> Run:
        async with self.db.transaction() as session:
            repo = RunRepository(session)
            run = await repo.get(run_id, for_update=True)
            if run is None:
                raise NotFound(f"no run {run_id!r}", field="run_id")
            authorize_stop(run, caller.subject, caller.can(Permission.TRAINING_OPERATE), confirm_name)
            run.request_stop(self.clock(), caller.subject, reason)
            await repo.save(run)
            if run.status.is_final:
                await self._record_finished(session, run)
        return run

    # --- what workers report ------------------------------------------------------------------------

    async def claim_run(self, run_id: str, worker: str, lease_seconds: float) -> ClaimOutcome:
        now = self.clock()
        lease = timedelta(seconds=lease_seconds or self.config.lease_seconds)
        async with self.db.transaction() as session:
            repo = RunRepository(session)
            run = await repo.get(run_id, for_update=True)
            if run is None:
                return ClaimOutcome(False, reason=f"no run {run_id}")
            holder, _ = await repo.lease_of(run_id)
            if run.status is RunStatus.RUNNING and holder == worker:
                await repo.take_lease(run_id, worker, now, now + lease)
                return ClaimOutcome(True, run)
            if run.status is not RunStatus.QUEUED:
                return ClaimOutcome(False, run, f"run is {run.status.value}")
            if not pool_has_room(self.config.limits, await repo.count_running_in(run.pool)):
                return ClaimOutcome(
                    False, run, f"pool {run.pool} is full", self.config.pool_full_retry_seconds
                )
            if not await repo.take_lease(run_id, worker, now, now + lease):
                return ClaimOutcome(False, run, f"run is leased by {holder}")
            run.start(now, worker)
            await repo.save(run)
            await record_event(
                session, events_pb2.RunStarted(run_id=run.id, worker=worker), source=SOURCE, subject=run.id
            )
        return ClaimOutcome(True, run)

    async def report_progress(
        self,
        run_id: str,
        worker: str,
        metrics: Sequence[MetricRecord],
        logs: Sequence[tuple[datetime, str, str]],
        lease_seconds: float = 0.0,
    ) -> ProgressOutcome:
        now = self.clock()
        lease = timedelta(seconds=lease_seconds or self.config.lease_seconds)
        async with self.db.transaction() as session:
            repo = RunRepository(session)
            status = await repo.renew_lease_status(run_id, worker, now + lease)
            if status is None or status.is_final:
                return ProgressOutcome(stop_requested=True, lease_lost=True)
            await repo.append_metrics(run_id, metrics)
            last_seq = await repo.append_logs(run_id, logs)
        if metrics or logs:
            await self.live.publish(run_id, progress_message(run_id, metrics, logs, last_seq))
        return ProgressOutcome(stop_requested=status is RunStatus.STOPPING, lease_lost=False)

    async def complete_run(
        self,
        run_id: str,
        worker: str,
        status: RunStatus,
        summary_metrics: dict[str, float],
        artifacts: list[Artifact],
        failure_reason: str,
    ) -> Run:
        async with self.db.transaction() as session:
            repo = RunRepository(session)
            run = await repo.get(run_id, for_update=True)
            if run is None:
                raise NotFound(f"no run {run_id!r}", field="run_id")
            holder, _ = await repo.lease_of(run_id)
            if holder != worker:
                raise FailedPrecondition(
                    f"worker {worker} does not hold the lease of run {run_id}", field="worker"
                )
            run.finish(
                status,
                self.clock(),
                worker,
                summary_metrics=summary_metrics,
                artifacts=artifacts,
                failure_reason=failure_reason,
            )
            if run.reproduction_of and status is RunStatus.SUCCEEDED:
                original = await repo.get(run.reproduction_of)
                if original is not None:
                    before = original.artifact_sha256.get(MODEL_ARTIFACT)
                    run.reproduction_matches = before is not None and before == run.artifact_sha256.get(
                        MODEL_ARTIFACT
                    )
            await repo.save(run)
            await repo.release_lease(run_id)
            await self._record_finished(session, run)
        return run

    async def fail_lost_workers(self) -> list[str]:
        """Fail running runs whose worker stopped renewing the lease: it died or lost its connection."""
        now = self.clock()
        async with self.db.transaction() as session:
            candidates = await RunRepository(session).expired_runs(now)
        failed = []
        for run_id in candidates:
            async with self.db.transaction() as session:
                repo = RunRepository(session)
                run = await repo.get(run_id, for_update=True)
                _, expires = await repo.lease_of(run_id)
                if run is None or run.status not in (RunStatus.RUNNING, RunStatus.STOPPING):
                    continue
                if expires is not None and expires >= now:
                    continue
                run.fail_lost_worker(now)
                await repo.save(run)
                await repo.release_lease(run_id)
                await self._record_finished(session, run)
                failed.append(run_id)
                log.warning("run %s failed: worker lost", run_id)
        return failed

    async def _record_finished(self, session: Any, run: Run) -> None:
        await record_event(
            session,
            events_pb2.RunFinished(
                run_id=run.id,
                status=run.status.value,
                summary_metrics=run.summary_metrics,
                artifacts=[
                    common_pb2.ArtifactRef(
                        name=a.name,
                        uri=a.uri,
                        sha256=a.sha256,
                        size_bytes=a.size_bytes,
                        media_type=a.media_type,
                    )
                    for a in run.artifacts
                ],
                failure_reason=run.failure_reason,
                dataset_id=run.dataset.dataset_id,
                dataset_version=run.dataset.number,
                algorithm_id=run.algorithm_id,
                algorithm_version=run.algorithm_version,
            ),
            source=SOURCE,
            subject=run.id,
        )
