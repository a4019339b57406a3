"""The registry's store and use cases on SQLite and PostgreSQL: constraints, stages, approvals, aliases.

The training service is not needed here: versions are registered from drafts directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from mlops.kernel.auth import Principal, Role
from mlops.kernel.db import Database, migrate_async
from mlops.kernel.errors import AlreadyExists, Conflict, FailedPrecondition, NotFound, PermissionDenied
from mlops.kernel.objectstore import ObjectStore
from mlops.kernel.settings import S3Settings
from mlops.kernel.tables import outbox
from services.registry.domain import Bundle, Lineage, ModelVersion, QualityGate, Stage, VersionDraft
from services.registry.main import MIGRATIONS
from services.registry.service import RegistryService
from services.registry.store import SqlRegistryStore

SAM = Principal("sam", Role.DATA_SCIENTIST)
ERIN = Principal("erin", Role.MLOPS_ENGINEER)


def draft(run_id: str, **metrics: float) -> VersionDraft:
    return VersionDraft(
        bundle=Bundle(uri=f"s3://b/runs/{run_id}/bundle.zip", sha256="a" * 64, size_bytes=10),
        signature={"inputs": [], "outputs": []},
        algorithm_id="anomaly_detection",
        algorithm_version="1",
        lineage=Lineage(run_id=run_id, dataset_id="ds1", dataset_version=1, manifest_digest="d" * 64),
        code_version={"package_version": "0.1.0"},
        parameters={"epochs": 3},
        metrics=dict(metrics) or {"macro_f1": 0.9},
        registered_by="sam",
    )


@dataclass
class Registry:
    db: Database
    store: SqlRegistryStore
    service: RegistryService

    async def register(self, model: str, run_id: str, **metrics: float) -> ModelVersion:
        version, _ = await self.service._retrying(
            lambda uow: self.service._register_in(uow, model, draft(run_id, **metrics))
        )
        return version

    async def events(self) -> list[str]:
        async with self.db.transaction() as session:
            rows = await session.execute(select(outbox.c.subject).order_by(outbox.c.seq))
            return [r.subject.rsplit(".", 1)[-1] for r in rows]

    async def approved(self, version: ModelVersion) -> str:
        approval = await self.service.request_approval(SAM, version.model_name, version.number, "better")
        await self.service.decide_approval(ERIN, approval.approval_id, approve=True, comment="")
        return approval.approval_id


@pytest.fixture
async def registry(database_url: str) -> AsyncIterator[Registry]:
    await migrate_async(database_url, MIGRATIONS)
    db = Database(database_url)
    store = SqlRegistryStore(db)
    blobs = ObjectStore(S3Settings(bucket="unused"))
    service = RegistryService(store, runs=None, blobs=blobs)  # type: ignore[arg-type]
    yield Registry(db, store, service)
    await db.dispose()


async def test_models_are_unique_by_name(registry: Registry) -> None:
    created = await registry.service.create_model(SAM, "churn", description="", scenario="", tags=["b", "a"])
    assert (await registry.service.get_model(created.model_id)).tags == ("a", "b")
    with pytest.raises(AlreadyExists):
        await registry.service.create_model(SAM, "churn", description="", scenario="", tags=[])
    with pytest.raises(NotFound):
        await registry.service.get_model("nope")


async def test_registering_the_same_run_twice_yields_one_version(registry: Registry) -> None:
    await registry.service.create_model(SAM, "churn", description="", scenario="", tags=[])
    first = await registry.register("churn", "run-1")
    again = await registry.register("churn", "run-1")
    second = await registry.register("churn", "run-2")
    assert (first.number, again.number, second.number) == (1, 1, 2)
    versions, total = await registry.service.list_versions("churn", stage=None, offset=0, limit=10)
    assert total == 2 and [v.number for v in versions] == [2, 1]
    assert (await registry.events()).count("ModelVersionRegistered") == 2


async def test_concurrent_registrations_of_one_run_give_one_version(registry: Registry) -> None:
    await registry.service.create_model(SAM, "churn", description="", scenario="", tags=[])
    results = await asyncio.gather(*(registry.register("churn", "run-7") for _ in range(4)))
    assert {v.number for v in results} == {1}


async def test_promotion_needs_an_approved_request_and_archives_the_previous(registry: Registry) -> None:
    await registry.service.create_model(SAM, "churn", description="", scenario="", tags=[])
    v1 = await registry.register("churn", "run-1")
    v2 = await registry.register("churn", "run-2")
    for v in (v1, v2):
        await registry.service.transition(SAM, "churn", v.number, Stage.STAGING, "")
    with pytest.raises(FailedPrecondition, match="approval"):
        await registry.service.transition(SAM, "churn", 1, Stage.PRODUCTION, "")
    approval = await registry.service.request_approval(SAM, "churn", 1, "first model")
    with pytest.raises(PermissionDenied):
        await registry.service.decide_approval(SAM, approval.approval_id, approve=True, comment="")
    with pytest.raises(FailedPrecondition, match="pending"):
        await registry.service.transition(SAM, "churn", 1, Stage.PRODUCTION, approval.approval_id)
    await registry.service.decide_approval(ERIN, approval.approval_id, approve=True, comment="ok")
    with pytest.raises(FailedPrecondition, match="not churn/v2"):
        await registry.service.transition(SAM, "churn", 2, Stage.PRODUCTION, approval.approval_id)
    promoted = await registry.service.transition(SAM, "churn", 1, Stage.PRODUCTION, approval.approval_id)
    assert promoted.stage is Stage.PRODUCTION
    await registry.service.transition(SAM, "churn", 2, Stage.PRODUCTION, await registry.approved(v2))
    assert (await registry.service.get_version("churn", 1)).stage is Stage.ARCHIVED
    assert (await registry.service.get_version("churn", 0, "production")).number == 2
    assert (await registry.service.get_model("churn")).production_version == 2
    events = await registry.events()
    assert events.count("ModelVersionStageChanged") == 5
    assert events.count("ApprovalRequested") == 2 and events.count("ApprovalDecided") == 2


async def test_a_version_failing_a_gate_is_not_promoted(registry: Registry) -> None:
    await registry.service.create_model(SAM, "churn", description="", scenario="", tags=[])
    await registry.service.set_gates("churn", [QualityGate("macro_f1", ">=", 0.85)])
    weak = await registry.register("churn", "run-1", macro_f1=0.7)
    await registry.service.transition(SAM, "churn", weak.number, Stage.STAGING, "")
    approval = await registry.service.request_approval(SAM, "churn", weak.number, "please")
    assert not approval.gates_passed and "fails" in approval.gate_outcomes[0].detail
    stored = (await registry.service.list_approvals("churn", None))[0]
    assert stored.gate_outcomes == approval.gate_outcomes
    with pytest.raises(FailedPrecondition, match="quality gates"):
        await registry.service.decide_approval(ERIN, approval.approval_id, approve=True, comment="")
    # Gates tightened after an approval still stop the promotion.
    good = await registry.register("churn", "run-2", macro_f1=0.9)
    await registry.service.transition(SAM, "churn", good.number, Stage.STAGING, "")
    approval_id = await registry.approved(good)
    await registry.service.set_gates("churn", [QualityGate("macro_f1", ">=", 0.95)])
    with pytest.raises(FailedPrecondition, match="quality gates"):
        await registry.service.transition(SAM, "churn", good.number, Stage.PRODUCTION, approval_id)


async def test_aliases_move_between_versions(registry: Registry) -> None:
    await registry.service.create_model(SAM, "churn", description="", scenario="", tags=[])
    await registry.register("churn", "run-1")
    await registry.register("churn", "run-2")
    await registry.service.set_alias("churn", 1, "champion", remove=False)
    await registry.service.set_alias("churn", 2, "champion", remove=False)
    assert (await registry.service.get_version("churn", 0, "champion")).number == 2
    assert (await registry.service.get_version("churn", 1)).aliases == ()
    await registry.service.set_alias("churn", 2, "champion", remove=True)
    with pytest.raises(NotFound):
        await registry.service.get_version("churn", 0, "champion")


async def test_deleting_production_or_deployed_versions_is_refused(registry: Registry) -> None:
    await registry.service.create_model(SAM, "churn", description="", scenario="", tags=[])
    v1 = await registry.register("churn", "run-1")
    await registry.register("churn", "run-2")
    await registry.service.transition(SAM, "churn", 1, Stage.STAGING, "")
    await registry.service.transition(SAM, "churn", 1, Stage.PRODUCTION, await registry.approved(v1))
    with pytest.raises(FailedPrecondition, match="production"):
        await registry.service.delete_version("churn", 1)
    async with registry.store.unit() as uow:
        await uow.record_deployment("churn-api", "churn", 2, 1, v1.created_at)
    with pytest.raises(FailedPrecondition, match="churn-api"):
        await registry.service.delete_version("churn", 2)
    async with registry.store.unit() as uow:
        await uow.forget_deployment("churn-api")
    await registry.service.delete_version("churn", 2)
    assert "ModelVersionDeleted" in await registry.events()
    # Numbers are never reused.
    assert (await registry.register("churn", "run-3")).number == 3


async def test_model_card_is_generated_and_editable(registry: Registry) -> None:
    await registry.service.create_model(SAM, "churn", description="", scenario="", tags=[])
    await registry.register("churn", "run-1", macro_f1=0.9)
    card = await registry.service.update_card("churn", 1, intended_use="Weekly churn triage.", risks=None)
    assert card.intended_use == "Weekly churn triage." and card.risks == ""
    assert "run-1" in card.to_markdown() and "Weekly churn triage." in card.to_markdown()


async def test_two_concurrent_promotions_exactly_one_wins(registry: Registry) -> None:
    """Both transactions read "no production version", then race: the partial unique index decides."""
    if registry.db.is_sqlite:
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): promotions cannot interleave there")
    await registry.service.create_model(SAM, "churn", description="", scenario="", tags=[])
    versions = [await registry.register("churn", f"run-{n}") for n in (1, 2)]
    both_read = asyncio.Barrier(2)

    async def promote(version: ModelVersion) -> str:
        try:
            async with registry.store.unit() as uow:
                model = await uow.get_model("churn")
                assert await uow.production_version(model) is None
                await both_read.wait()
                await uow.set_stage(version, Stage.PRODUCTION)
            return "won"
        except Conflict:
            return "lost"

    outcomes = await asyncio.wait_for(asyncio.gather(*(promote(v) for v in versions)), 20)
    assert sorted(outcomes) == ["lost", "won"]
    _, total = await registry.service.list_versions("churn", stage=Stage.PRODUCTION, offset=0, limit=5)
    assert total == 1


async def test_concurrent_promotions_through_the_service_leave_one_production(registry: Registry) -> None:
    await registry.service.create_model(SAM, "churn", description="", scenario="", tags=[])
    approvals = []
    for n in (1, 2, 3):
        version = await registry.register("churn", f"run-{n}")
        await registry.service.transition(SAM, "churn", n, Stage.STAGING, "")
        approvals.append((n, await registry.approved(version)))
    results = await asyncio.gather(
        *(registry.service.transition(SAM, "churn", n, Stage.PRODUCTION, a) for n, a in approvals),
        return_exceptions=True,
    )
    assert any(isinstance(r, ModelVersion) for r in results)
    assert all(isinstance(r, ModelVersion | Conflict) for r in results), results
    _, total = await registry.service.list_versions("churn", stage=Stage.PRODUCTION, offset=0, limit=5)
    assert total == 1
