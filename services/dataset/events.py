"""The dataset service's events: what it publishes through the outbox, and what it learns from others.

Training and the registry announce who uses a dataset version (RunQueued, ModelVersionRegistered,
ModelVersionDeleted); the service records those users so that a used version cannot be deleted.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from mlops.api.common.v1 import common_pb2
from mlops.api.events.v1 import events_pb2
from mlops.kernel.events import CloudEvent, record_event, subject_for

from .domain import Dataset, Scenario, model_user, run_user, utcnow
from .store import SqlDatasetUnit, VersionRecord

log = logging.getLogger(__name__)

SOURCE = "dataset"
CONSUMER_NAME = "dataset-version-users"
USER_SUBJECTS = (
    subject_for("training", events_pb2.RunQueued()),
    subject_for("registry", events_pb2.ModelVersionRegistered()),
    subject_for("registry", events_pb2.ModelVersionDeleted()),
)


def scenario_to_proto(scenario: Scenario) -> int:
    return common_pb2.Scenario.Value(f"SCENARIO_{scenario.name}")


async def dataset_created(session: AsyncSession, dataset: Dataset) -> None:
    payload = events_pb2.DatasetCreated(
        dataset_id=dataset.dataset_id,
        name=dataset.name,
        scenario=scenario_to_proto(dataset.scenario),  # type: ignore[arg-type]
        owner=dataset.owner,
    )
    await record_event(session, payload, source=SOURCE, subject=dataset.dataset_id)


async def version_published(session: AsyncSession, version: VersionRecord) -> None:
    payload = events_pb2.DatasetVersionPublished(
        dataset_id=version.dataset_id,
        number=version.number,
        manifest_digest=version.manifest_digest,
        counts_per_purpose=version.counts_per_purpose,
        sample_count=version.sample_count,
        author=version.author,
        scenario=scenario_to_proto(version.scenario),  # type: ignore[arg-type]
    )
    await record_event(session, payload, source=SOURCE, subject=f"{version.dataset_id}/v{version.number}")


async def version_archived(session: AsyncSession, dataset_id: str, number: int, archived: bool) -> None:
    payload = events_pb2.DatasetVersionArchived(dataset_id=dataset_id, number=number, archived=archived)
    await record_event(session, payload, source=SOURCE, subject=f"{dataset_id}/v{number}")


async def record_version_user(session: AsyncSession, event: CloudEvent) -> None:
    """The durable consumer's handler: runs in the inbox's transaction, so redeliveries are no-ops."""
    uow = SqlDatasetUnit(session)
    match event.type_name:
        case "RunQueued":
            run = event.payload(events_pb2.RunQueued)
            await _add(uow, run.dataset_id, run.dataset_version, run_user(run.run_id))
        case "ModelVersionRegistered":
            model = event.payload(events_pb2.ModelVersionRegistered)
            await _add(
                uow, model.dataset_id, model.dataset_version, model_user(model.model_name, model.number)
            )
        case "ModelVersionDeleted":
            gone = event.payload(events_pb2.ModelVersionDeleted)
            user = model_user(gone.model_name, gone.number)
            await uow.remove_version_user(gone.dataset_id, gone.dataset_version, user)
        case other:
            log.warning("ignoring an event this consumer does not handle", extra={"fields": {"type": other}})


async def _add(uow: SqlDatasetUnit, dataset_id: str, number: int, user: str) -> None:
    if not dataset_id or number <= 0:
        # External models and ad-hoc runs name no dataset version: nothing to protect.
        return
    if not await uow.add_version_user(dataset_id, number, user, utcnow()):
        log.warning(
            "a use names an unknown dataset version",
            extra={"fields": {"dataset_id": dataset_id, "number": number, "user": user}},
        )
