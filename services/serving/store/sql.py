"""SQLAlchemy store of deployments, revisions and workers (SQLite and PostgreSQL alike)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mlops.kernel.errors import NotFound
from services.serving.domain import (
    DEFAULT_REQUEST_LOG_MAX_PAYLOAD_BYTES,
    DEFAULT_REQUEST_LOG_SAMPLE_RATE,
    Batching,
    Bundle,
    Deployment,
    Replica,
    ReplicaState,
    Resources,
    Revision,
    Traffic,
    TrafficPolicy,
)
from services.serving.placement import Worker
from services.serving.store.tables import deployments, revisions, workers


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands datetimes back without their zone; every one stored is UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _body(deployment: Deployment) -> dict[str, Any]:
    return {
        "public": deployment.public,
        "request_logging": deployment.request_logging,
        "request_log_sample_rate": deployment.request_log_sample_rate,
        "request_log_max_payload_bytes": deployment.request_log_max_payload_bytes,
        "idle_after_seconds": deployment.idle_after_seconds,
        "ttl_seconds": deployment.ttl_seconds,
        "scenario": deployment.scenario,
        "traffic": asdict(deployment.traffic),
        "replicas": [asdict(r) for r in deployment.replicas],
        "stable_history": deployment.stable_history,
        "last_request_at": deployment.last_request_at.isoformat() if deployment.last_request_at else None,
        "observed": asdict(deployment.observed),
    }


def _revision_row(name: str, revision: Revision) -> dict[str, Any]:
    return {
        "deployment": name,
        "number": revision.number,
        "model": revision.model,
        "version": revision.version,
        "bundle_uri": revision.bundle.uri,
        "bundle_sha256": revision.bundle.sha256,
        "replicas": revision.replicas,
        "memory_bytes": revision.resources.memory_bytes,
        "threads": revision.resources.threads,
        "gpu_share": revision.resources.gpu_share,
        "max_batch_size": revision.batching.max_batch_size,
        "max_queue_delay_us": revision.batching.max_queue_delay_us,
        "created_at": revision.created_at,
        "created_by": revision.created_by,
        "reason": revision.reason,
    }


def _revision(row: Any) -> Revision:
    return Revision(
        number=row.number,
        model=row.model,
        version=row.version,
        bundle=Bundle(row.bundle_uri, row.bundle_sha256),
        resources=Resources(row.memory_bytes, row.threads, row.gpu_share),
        batching=Batching(row.max_batch_size, row.max_queue_delay_us),
        replicas=row.replicas,
        created_at=_aware(row.created_at),  # type: ignore[arg-type]
        created_by=row.created_by,
        reason=row.reason,
    )


def _deployment(row: Any, revision_rows: list[Any]) -> Deployment:
    body = row.body
    last = body.get("last_request_at")
    return Deployment(
        name=row.name,
        pool=row.pool,
        owner=row.owner,
        created_at=_aware(row.created_at),  # type: ignore[arg-type]
        public=body["public"],
        request_logging=body["request_logging"],
        # Rows written before request-log settings existed take the defaults.
        request_log_sample_rate=body.get("request_log_sample_rate", DEFAULT_REQUEST_LOG_SAMPLE_RATE),
        request_log_max_payload_bytes=body.get(
            "request_log_max_payload_bytes", DEFAULT_REQUEST_LOG_MAX_PAYLOAD_BYTES
        ),
        idle_after_seconds=body["idle_after_seconds"],
        ttl_seconds=body["ttl_seconds"],
        scenario=body.get("scenario", ""),
        revisions=[_revision(r) for r in revision_rows],
        traffic=TrafficPolicy(**body["traffic"]),
        replicas=[Replica(**{**r, "state": ReplicaState(r["state"])}) for r in body["replicas"]],
        stable_history=list(body["stable_history"]),
        last_request_at=datetime.fromisoformat(last) if last else None,
        stopped_reason=row.stopped_reason,
        observed=Traffic(**body["observed"]),
    )


def _worker(row: Any) -> Worker:
    return Worker(
        id=row.id,
        pool=row.pool,
        address=row.address,
        memory_bytes=row.memory_bytes,
        threads=row.threads,
        gpu_capacity=row.gpu_capacity,
        providers=list(row.providers),
        last_heartbeat=_aware(row.last_heartbeat),
        registered_at=_aware(row.registered_at),
    )


class SqlServingStore:
    """Every method works inside the caller's session, so events join the same transaction."""

    async def find(self, session: AsyncSession, name: str) -> Deployment | None:
        row = (await session.execute(select(deployments).where(deployments.c.name == name))).first()
        if row is None:
            return None
        found = await session.execute(
            select(revisions).where(revisions.c.deployment == name).order_by(revisions.c.number)
        )
        return _deployment(row, list(found))

    async def get(self, session: AsyncSession, name: str) -> Deployment:
        deployment = await self.find(session, name)
        if deployment is None:
            raise NotFound(f"no deployment {name}", field="name")
        return deployment

    async def all(self, session: AsyncSession) -> list[Deployment]:
        rows = list(await session.execute(select(deployments).order_by(deployments.c.name)))
        by_name: dict[str, list[Any]] = {row.name: [] for row in rows}
        for rev in await session.execute(
            select(revisions).order_by(revisions.c.deployment, revisions.c.number)
        ):
            if rev.deployment in by_name:
                by_name[rev.deployment].append(rev)
        return [_deployment(row, by_name[row.name]) for row in rows]

    async def add(self, session: AsyncSession, deployment: Deployment) -> None:
        await session.execute(
            insert(deployments).values(
                name=deployment.name,
                pool=deployment.pool,
                owner=deployment.owner,
                created_at=deployment.created_at,
                stopped_reason=deployment.stopped_reason,
                body=_body(deployment),
            )
        )
        await self._add_revisions(session, deployment, known=set())

    async def save(self, session: AsyncSession, deployment: Deployment) -> None:
        await session.execute(
            update(deployments)
            .where(deployments.c.name == deployment.name)
            .values(stopped_reason=deployment.stopped_reason, body=_body(deployment))
        )
        stored = await session.execute(
            select(revisions.c.number).where(revisions.c.deployment == deployment.name)
        )
        await self._add_revisions(session, deployment, known={n for (n,) in stored})

    async def _add_revisions(self, session: AsyncSession, deployment: Deployment, known: set[int]) -> None:
        new = [_revision_row(deployment.name, r) for r in deployment.revisions if r.number not in known]
        if new:
            await session.execute(insert(revisions), new)

    async def remove(self, session: AsyncSession, name: str) -> None:
        await session.execute(delete(revisions).where(revisions.c.deployment == name))
        await session.execute(delete(deployments).where(deployments.c.name == name))

    async def workers(self, session: AsyncSession) -> list[Worker]:
        return [_worker(row) for row in await session.execute(select(workers).order_by(workers.c.id))]

    async def find_worker(self, session: AsyncSession, worker_id: str) -> Worker | None:
        row = (await session.execute(select(workers).where(workers.c.id == worker_id))).first()
        return _worker(row) if row is not None else None

    async def put_worker(self, session: AsyncSession, worker: Worker) -> None:
        values = {
            "pool": worker.pool,
            "address": worker.address,
            "memory_bytes": worker.memory_bytes,
            "threads": worker.threads,
            "gpu_capacity": worker.gpu_capacity,
            "providers": worker.providers,
            "registered_at": worker.registered_at,
            "last_heartbeat": worker.last_heartbeat,
        }
        done = await session.execute(update(workers).where(workers.c.id == worker.id).values(**values))
        if not done.rowcount:  # type: ignore[attr-defined]
            await session.execute(insert(workers).values(id=worker.id, **values))
