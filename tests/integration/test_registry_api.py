"""The registry service end to end: a real runtime with SQLite, NATS, SeaweedFS, the interceptor, and a
real gRPC TrainingService serving canned runs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from sqlalchemy import select

from mlops.api.events.v1 import events_pb2
from mlops.api.registry.v1 import registry_pb2 as pb
from mlops.api.training.v1 import training_pb2
from mlops.kernel.events.testing import eventually, stream_count
from mlops.kernel.tables import audit_log
from mlops.stack.servers import NatsServer
from tests.fixtures.s3 import S3Endpoint
from tests.registry.harness import (
    ENGINEER,
    ENGINEER_2,
    SCIENTIST,
    VIEWER,
    Registry,
    create_model,
    start_registry,
)


@pytest.fixture
async def registry(tmp_path: Path, nats_server: NatsServer, s3_server: S3Endpoint) -> AsyncIterator[Registry]:
    async for started in start_registry(tmp_path, nats_server, s3_server):
        yield started


async def test_register_from_run_copies_lineage_and_forwards_the_callers_token(registry: Registry) -> None:
    stub = registry.stub(SCIENTIST)
    model = await create_model(stub)
    run = await registry.add_run(metrics={"macro_f1": 0.91}, parameters={"epochs": 4})
    version = await stub.RegisterFromRun(pb.RegisterFromRunRequest(model=model.name, run_id=run.id))
    assert version.number == 1 and version.stage == pb.STAGE_NONE
    assert version.lineage.run_id == run.id and version.lineage.dataset_id == "ds1"
    assert version.lineage.manifest_digest == run.dataset.manifest_digest and not version.lineage.external
    assert version.bundle.sha256 == run.artifacts[0].sha256 and version.bundle.uri == run.artifacts[0].uri
    assert version.code_version.git_revision == "abc123"
    assert dict(version.metrics) == {"macro_f1": 0.91} and version.parameters["epochs"] == 4
    assert [t.name for t in version.signature.inputs] == ["x"]
    assert registry.training.authorizations == [f"Bearer {SCIENTIST}"]

    again = await stub.RegisterFromRun(pb.RegisterFromRunRequest(model=model.id, run_id=run.id))
    assert again.number == 1
    listed = await stub.ListModelVersions(pb.ListModelVersionsRequest(model=model.name))
    assert [v.number for v in listed.versions] == [1]

    failed = await registry.add_run(status=training_pb2.RUN_STATUS_FAILED)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.RegisterFromRun(pb.RegisterFromRunRequest(model=model.name, run_id=failed.id))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "failed" in (refused.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.RegisterFromRun(pb.RegisterFromRunRequest(model=model.name, run_id="nope"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND

    await eventually(
        lambda: stream_count(registry.bus, "mlops.events.registry.ModelVersionRegistered"), within=10
    )


async def test_cards_compare_and_lineage(registry: Registry) -> None:
    stub = registry.stub(SCIENTIST)
    model = await create_model(stub)
    dataset = (f"ds-{uuid.uuid4().hex[:6]}", 1)
    first = await registry.add_run(dataset=dataset, metrics={"test.macro_f1": 0.8}, parameters={"epochs": 3})
    second = await registry.add_run(dataset=dataset, metrics={"test.macro_f1": 0.9}, parameters={"epochs": 6})
    unregistered = await registry.add_run(dataset=dataset)
    for run in (first, second):
        await stub.RegisterFromRun(pb.RegisterFromRunRequest(model=model.name, run_id=run.id))

    card = await stub.UpdateModelCard(
        pb.UpdateModelCardRequest(model=model.name, number=1, intended_use="Nightly triage.")
    )
    assert card.intended_use == "Nightly triage." and card.risks == ""
    card = await stub.GetModelCard(pb.GetModelVersionRequest(model=model.name, number=1))
    assert "Nightly triage." in card.markdown and first.id in card.markdown and "### test" in card.markdown
    assert card.generated["data"]["dataset_id"] == dataset[0]
    assert card.generated["per_label_metrics"]["fraud"]["f1"] == 0.8
    assert "Three features only." in card.markdown and "### fraud" in card.markdown

    compared = await stub.CompareModelVersions(
        pb.CompareModelVersionsRequest(model=model.name, from_number=1, to_number=2)
    )
    assert [(d.name, d.from_value, d.to_value) for d in compared.parameters] == [("epochs", "3", "6")]
    assert [(d.name, d.from_value, d.to_value) for d in compared.metrics] == [("test.macro_f1", "0.8", "0.9")]
    assert "run_id" in {d.name for d in compared.data}

    down = await stub.GetLineage(
        pb.GetLineageRequest(dataset_version=pb.DatasetRef(dataset_id=dataset[0], number=dataset[1]))
    )
    kinds = {(n.kind, n.id) for n in down.nodes}
    assert ("run", f"run:{unregistered.id}") in kinds
    assert {("model_version", f"model:{model.name}/v1"), ("model_version", f"model:{model.name}/v2")} <= kinds
    up = await stub.GetLineage(
        pb.GetLineageRequest(model_version=pb.GetModelVersionRequest(model=model.name, number=2))
    )
    assert {(e.from_id, e.to_id) for e in up.edges} == {
        (f"dataset:{dataset[0]}/v1", f"run:{second.id}"),
        (f"run:{second.id}", f"model:{model.name}/v2"),
    }


async def test_approval_flow_to_production_and_deletion_guards(registry: Registry) -> None:
    scientist, engineer, other_engineer = (
        registry.stub(SCIENTIST),
        registry.stub(ENGINEER),
        registry.stub(ENGINEER_2),
    )
    model = await create_model(scientist)
    await engineer.SetQualityGates(
        pb.SetQualityGatesRequest(
            model=model.name, gates=[pb.QualityGate(metric="macro_f1", comparator=">=", threshold=0.85)]
        )
    )
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await scientist.SetQualityGates(pb.SetQualityGatesRequest(model=model.name))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED

    run = await registry.add_run(metrics={"macro_f1": 0.9})
    await scientist.RegisterFromRun(pb.RegisterFromRunRequest(model=model.name, run_id=run.id))
    await scientist.TransitionStage(
        pb.TransitionStageRequest(model=model.name, number=1, stage=pb.STAGE_STAGING)
    )
    with pytest.raises(grpc.aio.AioRpcError) as unapproved:
        await scientist.TransitionStage(
            pb.TransitionStageRequest(model=model.name, number=1, stage=pb.STAGE_PRODUCTION)
        )
    assert unapproved.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    # An engineer's own request must be decided by someone else.
    own = await engineer.RequestApproval(pb.RequestApprovalRequest(model=model.name, number=1, reason="mine"))
    assert own.gate_outcomes[0].passed and own.state == pb.APPROVAL_STATE_PENDING
    with pytest.raises(grpc.aio.AioRpcError) as self_approval:
        await engineer.DecideApproval(pb.DecideApprovalRequest(approval_id=own.id, approve=True))
    assert self_approval.value.code() == grpc.StatusCode.PERMISSION_DENIED
    decided = await other_engineer.DecideApproval(pb.DecideApprovalRequest(approval_id=own.id, approve=True))
    assert decided.state == pb.APPROVAL_STATE_APPROVED and decided.decided_by == "emil"

    promoted = await scientist.TransitionStage(
        pb.TransitionStageRequest(model=model.name, number=1, stage=pb.STAGE_PRODUCTION, approval_id=own.id)
    )
    assert promoted.stage == pb.STAGE_PRODUCTION
    assert (await scientist.GetModel(pb.GetModelRequest(model=model.name))).production_version == 1
    await scientist.SetAlias(pb.SetAliasRequest(model=model.name, number=1, alias="champion"))
    assert (
        await scientist.GetModelVersion(pb.GetModelVersionRequest(model=model.name, alias="champion"))
    ).number == 1

    with pytest.raises(grpc.aio.AioRpcError) as in_production:
        await scientist.DeleteModelVersion(pb.GetModelVersionRequest(model=model.name, number=1))
    assert in_production.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    # Serving tells the registry which deployment serves a version.
    second = await registry.add_run(metrics={"macro_f1": 0.92})
    await scientist.RegisterFromRun(pb.RegisterFromRunRequest(model=model.name, run_id=second.id))
    deployment = f"api-{uuid.uuid4().hex[:6]}"
    await registry.announce(
        "serving",
        events_pb2.ServiceDeployed(deployment=deployment, revision=1, model_name=model.name, model_version=2),
    )

    async def deployed() -> bool:
        version = await scientist.GetModelVersion(pb.GetModelVersionRequest(model=model.name, number=2))
        return list(version.deployed_as) == [deployment]

    await eventually(deployed, within=15)
    with pytest.raises(grpc.aio.AioRpcError) as in_use:
        await scientist.DeleteModelVersion(pb.GetModelVersionRequest(model=model.name, number=2))
    assert in_use.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert deployment in (in_use.value.details() or "")
    await registry.announce("serving", events_pb2.ServiceStopped(deployment=deployment, reason="done"))

    async def stopped() -> bool:
        version = await scientist.GetModelVersion(pb.GetModelVersionRequest(model=model.name, number=2))
        return not version.deployed_as

    await eventually(stopped, within=15)
    await scientist.DeleteModelVersion(pb.GetModelVersionRequest(model=model.name, number=2))

    approvals = await scientist.ListApprovals(pb.ListApprovalsRequest(model=model.name))
    assert [a.id for a in approvals.approvals] == [own.id]
    # Every transition is audited by the interceptor.
    assert registry.runtime.db is not None
    async with registry.runtime.db.transaction() as session:
        actions = (await session.execute(select(audit_log.c.action, audit_log.c.outcome))).all()
    audited = {a.rsplit("/", 1)[-1] for a, _ in actions}
    assert {"TransitionStage", "RequestApproval", "DecideApproval", "DeleteModelVersion"} <= audited

    for subject in (
        "ModelVersionStageChanged",
        "ApprovalRequested",
        "ApprovalDecided",
        "ModelVersionDeleted",
    ):
        await eventually(
            lambda s=subject: stream_count(registry.bus, f"mlops.events.registry.{s}"), within=10
        )


async def test_automation_rule_registers_and_stages_better_runs(registry: Registry) -> None:
    scientist = registry.stub(SCIENTIST)
    model = await create_model(scientist)
    dataset_id = f"ds-{uuid.uuid4().hex[:6]}"
    rule = await scientist.CreateAutomationRule(
        pb.CreateAutomationRuleRequest(
            rule=pb.AutomationRule(
                model=model.name, dataset_id=dataset_id, algorithm_id="anomaly_detection",
                compare_metric="macro_f1", higher_is_better=True,
            )
        )
    )  # fmt: skip
    assert rule.enabled and rule.created_by == "sam"
    listed = await scientist.ListAutomationRules(pb.ListAutomationRulesRequest(model=model.name))
    assert [r.id for r in listed.rules] == [rule.id]

    async def finish(run: training_pb2.Run) -> None:
        await registry.announce(
            "training",
            events_pb2.RunFinished(
                run_id=run.id, status="succeeded", dataset_id=dataset_id, dataset_version=1,
                algorithm_id="anomaly_detection", algorithm_version="1",
            ),
        )  # fmt: skip

    good = await registry.add_run(dataset=(dataset_id, 1), metrics={"macro_f1": 0.9})
    await finish(good)

    async def versions() -> list[pb.ModelVersion]:
        return list(
            (await scientist.ListModelVersions(pb.ListModelVersionsRequest(model=model.name))).versions
        )

    async def count(n: int) -> bool:
        return len(await versions()) == n

    await eventually(lambda: count(1), within=15)
    first = (await versions())[0]
    assert first.stage == pb.STAGE_STAGING and first.registered_by == f"automation:{rule.id}"
    # The service identity fetched the run, not a user.
    assert registry.training.authorizations[-1].endswith("service_s3cret")

    # Not better than production: registered, left unstaged.
    engineer, other = registry.stub(ENGINEER), registry.stub(ENGINEER_2)
    approval = await engineer.RequestApproval(
        pb.RequestApprovalRequest(model=model.name, number=1, reason="go")
    )
    await other.DecideApproval(pb.DecideApprovalRequest(approval_id=approval.id, approve=True))
    await engineer.TransitionStage(
        pb.TransitionStageRequest(
            model=model.name, number=1, stage=pb.STAGE_PRODUCTION, approval_id=approval.id
        )
    )
    worse = await registry.add_run(dataset=(dataset_id, 1), metrics={"macro_f1": 0.85})
    await finish(worse)
    await eventually(lambda: count(2), within=15)
    newest = (await versions())[0]
    assert newest.number == 2 and newest.stage == pb.STAGE_NONE


async def test_readers_cannot_change_the_registry(registry: Registry) -> None:
    viewer = registry.stub(VIEWER)
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await viewer.CreateModel(pb.CreateModelRequest(name="nope"))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await viewer.ListModels(pb.ListModelsRequest())).page.total_size >= 0
