"""The SQL repository of runs, their transitions, metrics, logs and artifacts, within one session.

The service opens a transaction, builds a repository on its session, and commits the run's change
together with the outbox row of the event it publishes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.training.domain import (
    ACTIVE_STATUSES,
    Artifact,
    CodeVersion,
    DatasetRef,
    Run,
    RunStatus,
    Transition,
)
from services.training.store import tables as t
from services.training.store.records import LogRecord, MetricRecord, RunFilter, SeriesPoint

_ACTIVE = [s.value for s in ACTIVE_STATUSES]
# Below this many points an INSERT costs less than setting up a COPY.
COPY_THRESHOLD = 64


def utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class RunRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def is_postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    # --- runs ---------------------------------------------------------------------------------------

    async def add(self, run: Run) -> None:
        await self.session.execute(insert(t.runs).values(**_run_row(run), created_at=run.created_at))
        await self._append_transitions(run)

    async def save(self, run: Run) -> None:
        """Write the run's state and append the transitions made since it was loaded."""
        await self.session.execute(update(t.runs).where(t.runs.c.run_id == run.id).values(**_run_row(run)))
        await self._append_transitions(run)
        if run.artifacts:
            await self.session.execute(delete(t.artifacts).where(t.artifacts.c.run_id == run.id))
            await self.session.execute(
                insert(t.artifacts),
                [
                    {
                        "run_id": run.id,
                        "name": a.name,
                        "uri": a.uri,
                        "sha256": a.sha256,
                        "size_bytes": a.size_bytes,
                        "media_type": a.media_type,
                    }
                    for a in run.artifacts
                ],
            )

    async def _append_transitions(self, run: Run) -> None:
        if not run.new_transitions:
            return
        first = len(run.transitions) - len(run.new_transitions)
        await self.session.execute(
            insert(t.transitions),
            [
                {
                    "run_id": run.id,
                    "seq": first + offset,
                    "status": tr.status.value,
                    "at": tr.at,
                    "actor": tr.actor,
                    "reason": tr.reason,
                }
                for offset, tr in enumerate(run.new_transitions)
            ],
        )
        run.new_transitions.clear()

    async def get(self, run_id: str, *, for_update: bool = False) -> Run | None:
        query = select(t.runs).where(t.runs.c.run_id == run_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.session.execute(query)).mappings().first()
        if row is None:
            return None
        return (await self._hydrate([row]))[0]

    async def get_many(self, run_ids: Sequence[str]) -> dict[str, Run]:
        rows = (
            (await self.session.execute(select(t.runs).where(t.runs.c.run_id.in_(run_ids)))).mappings().all()
        )
        return {run.id: run for run in await self._hydrate(rows)}

    async def by_idempotency_key(self, owner: str, key: str) -> Run | None:
        query = select(t.runs).where(t.runs.c.owner == owner, t.runs.c.idempotency_key == key)
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else (await self._hydrate([row]))[0]

    async def active_duplicate(self, inputs_digest: str) -> Run | None:
        query = (
            select(t.runs)
            .where(t.runs.c.inputs_digest == inputs_digest, t.runs.c.status.in_(_ACTIVE))
            .order_by(t.runs.c.created_at)
            .limit(1)
        )
        row = (await self.session.execute(query)).mappings().first()
        return None if row is None else (await self._hydrate([row]))[0]

    async def count_active_of(self, owner: str) -> int:
        query = select(func.count()).where(t.runs.c.owner == owner, t.runs.c.status.in_(_ACTIVE))
        return int((await self.session.execute(query)).scalar_one())

    async def count_running_in(self, pool: str) -> int:
        running = [RunStatus.RUNNING.value, RunStatus.STOPPING.value]
        query = select(func.count()).where(t.runs.c.pool == pool, t.runs.c.status.in_(running))
        return int((await self.session.execute(query)).scalar_one())

    async def find(self, where: RunFilter, offset: int, limit: int) -> tuple[list[Run], int]:
        conditions = []
        if where.status:
            conditions.append(t.runs.c.status == where.status)
        if where.owner:
            conditions.append(t.runs.c.owner == where.owner)
        if where.dataset_id:
            conditions.append(t.runs.c.dataset_id == where.dataset_id)
        if where.dataset_version:
            conditions.append(t.runs.c.dataset_version == where.dataset_version)
        if where.algorithm_id:
            conditions.append(t.runs.c.algorithm_id == where.algorithm_id)
        condition = and_(*conditions) if conditions else text("1=1")
        total = int(
            (
                await self.session.execute(select(func.count()).select_from(t.runs).where(condition))
            ).scalar_one()
        )
        query = (
            select(t.runs)
            .where(condition)
            .order_by(t.runs.c.created_at.desc(), t.runs.c.run_id)
            .offset(offset)
            .limit(limit)
        )
        rows = (await self.session.execute(query)).mappings().all()
        return await self._hydrate(rows), total

    async def _hydrate(self, rows: Sequence[Any]) -> list[Run]:
        if not rows:
            return []
        ids = [row["run_id"] for row in rows]
        history: dict[str, list[Transition]] = {run_id: [] for run_id in ids}
        query = (
            select(t.transitions)
            .where(t.transitions.c.run_id.in_(ids))
            .order_by(t.transitions.c.run_id, t.transitions.c.seq)
        )
        for tr in (await self.session.execute(query)).mappings():
            history[tr["run_id"]].append(
                Transition(RunStatus(tr["status"]), utc(tr["at"]), tr["actor"], tr["reason"])  # type: ignore[arg-type]
            )
        stored: dict[str, list[Artifact]] = {run_id: [] for run_id in ids}
        query = select(t.artifacts).where(t.artifacts.c.run_id.in_(ids)).order_by(t.artifacts.c.name)
        for a in (await self.session.execute(query)).mappings():
            stored[a["run_id"]].append(
                Artifact(a["name"], a["uri"], a["sha256"], int(a["size_bytes"]), a["media_type"])
            )
        return [_run_of(row, history[row["run_id"]], stored[row["run_id"]]) for row in rows]

    # --- leases -------------------------------------------------------------------------------------

    async def lease_of(self, run_id: str) -> tuple[str | None, datetime | None]:
        query = select(t.runs.c.lease_holder, t.runs.c.lease_expires_at).where(t.runs.c.run_id == run_id)
        row = (await self.session.execute(query)).first()
        if row is None:
            return None, None
        return row[0], utc(row[1])

    async def take_lease(self, run_id: str, holder: str, now: datetime, expires_at: datetime) -> bool:
        """Take the run's lease if it is free, expired or already ours; one UPDATE, so no race."""
        result = await self.session.execute(
            update(t.runs)
            .where(
                t.runs.c.run_id == run_id,
                or_(
                    t.runs.c.lease_holder.is_(None),
                    t.runs.c.lease_holder == holder,
                    t.runs.c.lease_expires_at < now,
                ),
            )
            .values(lease_holder=holder, lease_expires_at=expires_at)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def renew_lease(self, run_id: str, holder: str, expires_at: datetime) -> bool:
        result = await self.session.execute(
            update(t.runs)
            .where(t.runs.c.run_id == run_id, t.runs.c.lease_holder == holder)
            .values(lease_expires_at=expires_at)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def renew_lease_status(self, run_id: str, holder: str, expires_at: datetime) -> RunStatus | None:
        """Renew the holder's lease in one statement; the run's status, or None when not the holder."""
        result = await self.session.execute(
            update(t.runs)
            .where(t.runs.c.run_id == run_id, t.runs.c.lease_holder == holder)
            .values(lease_expires_at=expires_at)
            .returning(t.runs.c.status)
        )
        status = result.scalar_one_or_none()
        return None if status is None else RunStatus(status)

    async def release_lease(self, run_id: str) -> None:
        await self.session.execute(
            update(t.runs).where(t.runs.c.run_id == run_id).values(lease_holder=None, lease_expires_at=None)
        )

    async def expired_runs(self, now: datetime) -> list[str]:
        """Running or stopping runs whose worker stopped renewing its lease."""
        running = [RunStatus.RUNNING.value, RunStatus.STOPPING.value]
        query = select(t.runs.c.run_id).where(
            t.runs.c.status.in_(running),
            or_(t.runs.c.lease_expires_at.is_(None), t.runs.c.lease_expires_at < now),
        )
        return [row[0] for row in await self.session.execute(query)]

    async def mark_dispatched(self, run_id: str, at: datetime) -> None:
        await self.session.execute(update(t.runs).where(t.runs.c.run_id == run_id).values(dispatched_at=at))

    async def undispatched(self, created_before: datetime) -> list[tuple[str, str]]:
        query = select(t.runs.c.run_id, t.runs.c.pool).where(
            t.runs.c.status == RunStatus.QUEUED.value,
            t.runs.c.dispatched_at.is_(None),
            t.runs.c.created_at < created_before,
        )
        return [(row[0], row[1]) for row in await self.session.execute(query)]

    # --- metrics ------------------------------------------------------------------------------------

    async def append_metrics(self, run_id: str, points: Sequence[MetricRecord]) -> None:
        if not points:
            return
        if self.is_postgres and len(points) >= COPY_THRESHOLD:
            # COPY: an order of magnitude faster than INSERT for batches of points.
            connection = await self.session.connection()
            raw = await connection.get_raw_connection()
            await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
                t.metric_points.name,
                records=[(run_id, p.key, p.step, p.value, p.at) for p in points],
                columns=["run_id", "key", "step", "value", "at"],
            )
            return
        await self.session.execute(
            insert(t.metric_points),
            [{"run_id": run_id, "key": p.key, "step": p.step, "value": p.value, "at": p.at} for p in points],
        )

    async def metric_keys(self, run_id: str) -> list[str]:
        query = select(t.metric_points.c.key).where(t.metric_points.c.run_id == run_id).distinct()
        return sorted(row[0] for row in await self.session.execute(query))

    async def metric_series(self, run_id: str, key: str, max_points: int) -> tuple[list[SeriesPoint], int]:
        """A series ordered by step, downsampled to at most `max_points` (0: all) with min/max buckets.

        Each bucket of steps keeps its lowest and highest value, so spikes survive downsampling; the
        aggregation runs in SQL, so only the kept points leave the database. The step range comes from
        the index (min and max are one probe each); the bucket query counts the points on its way.
        """
        mp = t.metric_points
        where = and_(mp.c.run_id == run_id, mp.c.key == key)
        if not max_points:
            return await self._raw_series(where)
        low, high = (
            await self.session.execute(select(func.min(mp.c.step), func.max(mp.c.step)).where(where))
        ).one()
        if low is None:
            return [], 0
        buckets = max(1, max_points // 2)
        span = int(high) - int(low) + 1
        query = text(
            "SELECT (step - :low) * :buckets / :span AS bucket, min(step), max(step), min(value), "
            f"max(value), count(*) FROM {mp.name} WHERE run_id = :run_id AND key = :key "
            "GROUP BY bucket ORDER BY bucket"
        ).bindparams(
            bindparam("low", int(low)),
            bindparam("buckets", buckets),
            bindparam("span", span),
            bindparam("run_id", run_id),
            bindparam("key", key),
        )
        rows = (await self.session.execute(query)).all()
        total = sum(int(row[5]) for row in rows)
        if total <= max_points:
            return await self._raw_series(where)
        points: list[SeriesPoint] = []
        for _bucket, first_step, last_step, lowest, highest, _count in rows:
            points.append(SeriesPoint(int(first_step), float(lowest)))
            if last_step != first_step:
                points.append(SeriesPoint(int(last_step), float(highest)))
        return points, total

    async def _raw_series(self, where: Any) -> tuple[list[SeriesPoint], int]:
        mp = t.metric_points
        rows = await self.session.execute(
            select(mp.c.step, mp.c.value, mp.c.at).where(where).order_by(mp.c.step)
        )
        points = [SeriesPoint(int(r[0]), float(r[1]), utc(r[2])) for r in rows]
        return points, len(points)

    # --- logs ---------------------------------------------------------------------------------------

    async def append_logs(self, run_id: str, lines: Sequence[tuple[datetime, str, str]]) -> int:
        """Append (at, stream, text) lines with the run's next sequence numbers; returns the last seq."""
        if not lines:
            return 0
        last = (
            await self.session.execute(
                select(func.max(t.log_lines.c.seq)).where(t.log_lines.c.run_id == run_id)
            )
        ).scalar_one()
        seq = int(last or 0)
        rows = []
        for at, stream, line in lines:
            seq += 1
            rows.append({"run_id": run_id, "seq": seq, "at": at, "stream": stream, "text": line})
        await self.session.execute(insert(t.log_lines), rows)
        return seq

    async def logs(self, run_id: str, after_seq: int, limit: int) -> list[LogRecord]:
        query = (
            select(t.log_lines)
            .where(t.log_lines.c.run_id == run_id, t.log_lines.c.seq > after_seq)
            .order_by(t.log_lines.c.seq)
            .limit(limit)
        )
        return [
            LogRecord(int(r["seq"]), utc(r["at"]), r["stream"], r["text"])  # type: ignore[arg-type]
            for r in (await self.session.execute(query)).mappings()
        ]


def _run_row(run: Run) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "name": run.name,
        "owner": run.owner,
        "status": run.status.value,
        "dataset_id": run.dataset.dataset_id,
        "dataset_version": run.dataset.number,
        "manifest_digest": run.dataset.manifest_digest,
        "algorithm_id": run.algorithm_id,
        "algorithm_version": run.algorithm_version,
        "parameters": run.parameters,
        "defaulted_parameters": run.defaulted_parameters,
        "preset": run.preset,
        "seed": run.seed,
        "pool": run.pool,
        "code_version": {
            "package_version": run.code_version.package_version,
            "git_revision": run.code_version.git_revision,
            "library_versions": run.code_version.library_versions,
        },
        "idempotency_key": run.idempotency_key or None,
        "request_digest": run.request_digest,
        "inputs_digest": run.inputs_digest,
        "summary_metrics": run.summary_metrics,
        "failure_reason": run.failure_reason,
        "retry_of": run.retry_of,
        "reproduction_of": run.reproduction_of,
        "reproduction_matches": run.reproduction_matches,
        "updated_at": run.transitions[-1].at if run.transitions else run.created_at,
    }


def _run_of(row: Any, history: list[Transition], stored: list[Artifact]) -> Run:
    code = row["code_version"] or {}
    return Run(
        id=row["run_id"],
        name=row["name"],
        owner=row["owner"],
        dataset=DatasetRef(row["dataset_id"], int(row["dataset_version"]), row["manifest_digest"]),
        algorithm_id=row["algorithm_id"],
        algorithm_version=row["algorithm_version"],
        parameters=dict(row["parameters"]),
        defaulted_parameters=list(row["defaulted_parameters"]),
        seed=int(row["seed"]),
        pool=row["pool"],
        code_version=CodeVersion(
            code.get("package_version", ""),
            code.get("git_revision", ""),
            dict(code.get("library_versions", {})),
        ),
        created_at=utc(row["created_at"]),  # type: ignore[arg-type]
        status=RunStatus(row["status"]),
        transitions=history,
        idempotency_key=row["idempotency_key"] or "",
        request_digest=row["request_digest"],
        inputs_digest=row["inputs_digest"],
        summary_metrics={k: float(v) for k, v in (row["summary_metrics"] or {}).items()},
        artifacts=stored,
        failure_reason=row["failure_reason"],
        retry_of=row["retry_of"],
        reproduction_of=row["reproduction_of"],
        reproduction_matches=row["reproduction_matches"],
        preset=row["preset"],
    )
