"""The serving service's events, recorded in the outbox in the same transaction as the change."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from mlops.api.events.v1 import events_pb2
from mlops.kernel.events import record_event
from services.serving.domain import Deployment, Revision

SOURCE = "serving"


async def deployed(session: AsyncSession, deployment: Deployment) -> None:
    revision = deployment.stable
    payload = events_pb2.ServiceDeployed(
        deployment=deployment.name,
        revision=revision.number,
        model_name=revision.model,
        model_version=revision.version,
        pool=deployment.pool,
    )
    await record_event(session, payload, source=SOURCE, subject=deployment.name)


async def updated(session: AsyncSession, deployment: Deployment, revision: Revision, change: str) -> None:
    payload = events_pb2.ServiceUpdated(
        deployment=deployment.name,
        revision=revision.number,
        model_name=revision.model,
        model_version=revision.version,
        change=change,
    )
    await record_event(session, payload, source=SOURCE, subject=deployment.name)


async def rolled_back(
    session: AsyncSession,
    deployment: Deployment,
    from_revision: int,
    to_revision: int,
    reason: str,
    *,
    automatic: bool,
) -> None:
    payload = events_pb2.ServiceRolledBack(
        deployment=deployment.name,
        from_revision=from_revision,
        to_revision=to_revision,
        reason=reason,
        automatic=automatic,
    )
    await record_event(session, payload, source=SOURCE, subject=deployment.name)


async def stopped(session: AsyncSession, deployment: Deployment, reason: str) -> None:
    payload = events_pb2.ServiceStopped(deployment=deployment.name, reason=reason)
    await record_event(session, payload, source=SOURCE, subject=deployment.name)
