"""The registry's events: published through the outbox in the same transaction as the change."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from mlops.api.common.v1 import common_pb2
from mlops.api.events.v1 import events_pb2
from mlops.kernel.events import record_event, subject_for

from .domain import Approval, ModelVersion, Stage

SOURCE = "registry"
# One durable consumer for what the registry learns from others: finished runs (automation rules) and
# which deployment serves which version. Each message is handled and acknowledged on its own.
CONSUMER_NAME = "registry-learned"
CONSUMED_SUBJECTS = (
    subject_for("training", events_pb2.RunFinished()),
    subject_for("serving", events_pb2.ServiceDeployed()),
    subject_for("serving", events_pb2.ServiceUpdated()),
    subject_for("serving", events_pb2.ServiceStopped()),
)


async def version_registered(session: AsyncSession, version: ModelVersion) -> None:
    bundle = version.bundle
    payload = events_pb2.ModelVersionRegistered(
        model_id=version.model_id,
        model_name=version.model_name,
        number=version.number,
        run_id=version.lineage.run_id,
        dataset_id=version.lineage.dataset_id,
        dataset_version=version.lineage.dataset_version,
        bundle=common_pb2.ArtifactRef(
            name=bundle.name,
            uri=bundle.uri,
            sha256=bundle.sha256,
            size_bytes=bundle.size_bytes,
            media_type=bundle.media_type,
        ),
        external=version.lineage.external,
    )
    await record_event(session, payload, source=SOURCE, subject=version.label)


async def stage_changed(
    session: AsyncSession, version: ModelVersion, before: Stage, actor: str, approval_id: str = ""
) -> None:
    payload = events_pb2.ModelVersionStageChanged(
        model_name=version.model_name,
        number=version.number,
        from_stage=before.value,
        to_stage=version.stage.value,
        actor=actor,
        approval_id=approval_id,
    )
    await record_event(session, payload, source=SOURCE, subject=version.label)


async def version_deleted(session: AsyncSession, version: ModelVersion) -> None:
    payload = events_pb2.ModelVersionDeleted(
        model_name=version.model_name,
        number=version.number,
        dataset_id=version.lineage.dataset_id,
        dataset_version=version.lineage.dataset_version,
    )
    await record_event(session, payload, source=SOURCE, subject=version.label)


async def approval_requested(session: AsyncSession, approval: Approval) -> None:
    payload = events_pb2.ApprovalRequested(
        approval_id=approval.approval_id,
        model_name=approval.model_name,
        number=approval.number,
        requested_by=approval.requested_by,
        reason=approval.reason,
        gates_passed=approval.gates_passed,
    )
    await record_event(session, payload, source=SOURCE, subject=f"{approval.model_name}/v{approval.number}")


async def approval_decided(session: AsyncSession, approval: Approval) -> None:
    payload = events_pb2.ApprovalDecided(
        approval_id=approval.approval_id,
        model_name=approval.model_name,
        number=approval.number,
        approved=approval.state.value == "approved",
        decided_by=approval.decided_by,
    )
    await record_event(session, payload, source=SOURCE, subject=f"{approval.model_name}/v{approval.number}")
