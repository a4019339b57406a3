"""Between the registry's domain objects and its protobuf messages."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2

from mlops.algorithms.bundle import Signature, TensorSpec
from mlops.api.common.v1 import common_pb2
from mlops.api.registry.v1 import registry_pb2 as pb
from mlops.kernel.errors import InvalidArgument
from mlops.kernel.scenarios import Scenario

from .cards import ModelCard
from .domain import (
    Approval,
    ApprovalState,
    AutomationRule,
    GateOutcome,
    Model,
    ModelVersion,
    QualityGate,
    Stage,
)
from .service import LineageGraph

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50


def timestamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def to_struct(value: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    # A JSON round trip turns dates and other stored oddities into strings Struct accepts.
    struct.update(json.loads(json.dumps(value, default=str)))
    return struct


def page_window(page: common_pb2.PageRequest) -> tuple[int, int]:
    size = page.page_size or DEFAULT_PAGE_SIZE
    if size < 0:
        raise InvalidArgument("page_size is positive", field="page.page_size")
    try:
        offset = int(page.page_token or 0)
    except ValueError:
        raise InvalidArgument("not a page token this service issued", field="page.page_token") from None
    return max(offset, 0), min(size, MAX_PAGE_SIZE)


def page_response(offset: int, count: int, total: int) -> common_pb2.PageResponse:
    following = offset + count
    return common_pb2.PageResponse(
        next_page_token=str(following) if following < total else "", total_size=total
    )


def scenario_name(value: int) -> str:
    if value == common_pb2.SCENARIO_UNSPECIFIED:
        return ""
    return Scenario.parse(common_pb2.Scenario.Name(value)).value


def scenario_value(name: str) -> int:
    return common_pb2.Scenario.Value(f"SCENARIO_{name.upper()}") if name else common_pb2.SCENARIO_UNSPECIFIED


def stage_to_proto(stage: Stage) -> int:
    return pb.Stage.Value(f"STAGE_{stage.name}")


def stage_from_proto(value: int, *, field: str = "stage") -> Stage:
    if value == pb.STAGE_UNSPECIFIED:
        raise InvalidArgument("name a stage", field=field)
    return Stage[pb.Stage.Name(value).removeprefix("STAGE_")]


def approval_state_from_proto(value: int) -> ApprovalState | None:
    if value == pb.APPROVAL_STATE_UNSPECIFIED:
        return None
    return ApprovalState[pb.ApprovalState.Name(value).removeprefix("APPROVAL_STATE_")]


def gate_to_proto(gate: QualityGate) -> pb.QualityGate:
    return pb.QualityGate(metric=gate.metric, comparator=gate.comparator, threshold=gate.threshold)


def gate_from_proto(gate: pb.QualityGate) -> QualityGate:
    return QualityGate(gate.metric, gate.comparator, gate.threshold)


def outcome_to_proto(outcome: GateOutcome) -> pb.GateOutcome:
    observed = 0.0 if math.isnan(outcome.observed) else outcome.observed
    return pb.GateOutcome(
        gate=gate_to_proto(outcome.gate), observed=observed, passed=outcome.passed, detail=outcome.detail
    )


def model_to_proto(model: Model) -> pb.Model:
    return pb.Model(
        id=model.model_id,
        name=model.name,
        description=model.description,
        scenario=scenario_value(model.scenario),  # type: ignore[arg-type]
        owner=model.owner,
        tags=list(model.tags),
        gates=[gate_to_proto(g) for g in model.gates],
        created_at=timestamp(model.created_at),
        latest_version=model.latest_version,
        production_version=model.production_version,
    )


def signature_from_proto(signature: common_pb2.Signature) -> Signature:
    def specs(tensors: Any) -> tuple[TensorSpec, ...]:
        return tuple(TensorSpec(t.name, t.datatype, tuple(t.shape)) for t in tensors)

    if not signature.inputs or not signature.outputs:
        raise InvalidArgument("declare the model's inputs and outputs", field="declaration.signature")
    return Signature(inputs=specs(signature.inputs), outputs=specs(signature.outputs))


def signature_to_proto(signature: dict[str, Any]) -> common_pb2.Signature:
    def specs(tensors: Any) -> list[common_pb2.TensorSpec]:
        return [
            common_pb2.TensorSpec(name=t["name"], datatype=t["datatype"], shape=[int(d) for d in t["shape"]])
            for t in tensors
        ]

    return common_pb2.Signature(
        inputs=specs(signature.get("inputs", [])), outputs=specs(signature.get("outputs", []))
    )


def version_to_proto(version: ModelVersion) -> pb.ModelVersion:
    lineage = version.lineage
    bundle = version.bundle
    code = version.code_version
    return pb.ModelVersion(
        model_id=version.model_id,
        model_name=version.model_name,
        number=version.number,
        stage=stage_to_proto(version.stage),  # type: ignore[arg-type]
        aliases=list(version.aliases),
        bundle=common_pb2.ArtifactRef(
            name=bundle.name,
            uri=bundle.uri,
            sha256=bundle.sha256,
            size_bytes=bundle.size_bytes,
            media_type=bundle.media_type,
        ),
        signature=signature_to_proto(version.signature),
        algorithm_id=version.algorithm_id,
        algorithm_version=version.algorithm_version,
        lineage=pb.Lineage(
            run_id=lineage.run_id,
            dataset_id=lineage.dataset_id,
            dataset_version=lineage.dataset_version,
            manifest_digest=lineage.manifest_digest,
            external=lineage.external,
        ),
        code_version=common_pb2.CodeVersion(
            package_version=str(code.get("package_version", "")),
            git_revision=str(code.get("git_revision", "")),
            library_versions={str(k): str(v) for k, v in dict(code.get("library_versions", {})).items()},
        ),
        parameters=to_struct(version.parameters),
        metrics=version.metrics,
        registered_by=version.registered_by,
        created_at=timestamp(version.created_at),
        deployed_as=list(version.deployed_as),
    )


def approval_to_proto(approval: Approval) -> pb.Approval:
    return pb.Approval(
        id=approval.approval_id,
        model=approval.model_name,
        number=approval.number,
        target_stage=stage_to_proto(approval.target_stage),  # type: ignore[arg-type]
        reason=approval.reason,
        requested_by=approval.requested_by,
        state=pb.ApprovalState.Value(f"APPROVAL_STATE_{approval.state.name}"),  # type: ignore[arg-type]
        decided_by=approval.decided_by,
        decision_comment=approval.decision_comment,
        gate_outcomes=[outcome_to_proto(o) for o in approval.gate_outcomes],
        created_at=timestamp(approval.created_at),
        decided_at=timestamp(approval.decided_at),
    )


def card_to_proto(card: ModelCard) -> pb.ModelCard:
    return pb.ModelCard(
        model=card.model_name,
        number=card.number,
        markdown=card.to_markdown(),
        intended_use=card.intended_use,
        risks=card.risks,
        generated=to_struct(card.generated),
        updated_at=timestamp(card.updated_at),
    )


def rule_to_proto(rule: AutomationRule, model_name: str) -> pb.AutomationRule:
    return pb.AutomationRule(
        id=rule.rule_id,
        model=model_name,
        dataset_id=rule.dataset_id,
        algorithm_id=rule.algorithm_id,
        compare_metric=rule.compare_metric,
        higher_is_better=rule.higher_is_better,
        enabled=rule.enabled,
        created_by=rule.created_by,
    )


def lineage_to_proto(graph: LineageGraph) -> pb.GetLineageResponse:
    return pb.GetLineageResponse(
        nodes=[
            pb.LineageNode(kind=kind, id=node_id, label=label)
            for node_id, (kind, label) in graph.nodes.items()
        ],
        edges=[pb.LineageEdge(from_id=a, to_id=b) for a, b in graph.edges],
    )
