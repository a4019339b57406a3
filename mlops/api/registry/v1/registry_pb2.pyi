import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from mlops.api.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Stage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STAGE_UNSPECIFIED: _ClassVar[Stage]
    STAGE_NONE: _ClassVar[Stage]
    STAGE_STAGING: _ClassVar[Stage]
    STAGE_PRODUCTION: _ClassVar[Stage]
    STAGE_ARCHIVED: _ClassVar[Stage]

class ApprovalState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPROVAL_STATE_UNSPECIFIED: _ClassVar[ApprovalState]
    APPROVAL_STATE_PENDING: _ClassVar[ApprovalState]
    APPROVAL_STATE_APPROVED: _ClassVar[ApprovalState]
    APPROVAL_STATE_REJECTED: _ClassVar[ApprovalState]
STAGE_UNSPECIFIED: Stage
STAGE_NONE: Stage
STAGE_STAGING: Stage
STAGE_PRODUCTION: Stage
STAGE_ARCHIVED: Stage
APPROVAL_STATE_UNSPECIFIED: ApprovalState
APPROVAL_STATE_PENDING: ApprovalState
APPROVAL_STATE_APPROVED: ApprovalState
APPROVAL_STATE_REJECTED: ApprovalState

class QualityGate(_message.Message):
    __slots__ = ("metric", "comparator", "threshold")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    COMPARATOR_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    metric: str
    comparator: str
    threshold: float
    def __init__(self, metric: _Optional[str] = ..., comparator: _Optional[str] = ..., threshold: _Optional[float] = ...) -> None: ...

class GateOutcome(_message.Message):
    __slots__ = ("gate", "observed", "passed", "detail")
    GATE_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    gate: QualityGate
    observed: float
    passed: bool
    detail: str
    def __init__(self, gate: _Optional[_Union[QualityGate, _Mapping]] = ..., observed: _Optional[float] = ..., passed: _Optional[bool] = ..., detail: _Optional[str] = ...) -> None: ...

class Model(_message.Message):
    __slots__ = ("id", "name", "description", "scenario", "owner", "tags", "gates", "created_at", "latest_version", "production_version")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    GATES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LATEST_VERSION_FIELD_NUMBER: _ClassVar[int]
    PRODUCTION_VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    description: str
    scenario: _common_pb2.Scenario
    owner: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    gates: _containers.RepeatedCompositeFieldContainer[QualityGate]
    created_at: _timestamp_pb2.Timestamp
    latest_version: int
    production_version: int
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., scenario: _Optional[_Union[_common_pb2.Scenario, str]] = ..., owner: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., gates: _Optional[_Iterable[_Union[QualityGate, _Mapping]]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., latest_version: _Optional[int] = ..., production_version: _Optional[int] = ...) -> None: ...

class Lineage(_message.Message):
    __slots__ = ("run_id", "dataset_id", "dataset_version", "manifest_digest", "external")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_DIGEST_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    dataset_id: str
    dataset_version: int
    manifest_digest: str
    external: bool
    def __init__(self, run_id: _Optional[str] = ..., dataset_id: _Optional[str] = ..., dataset_version: _Optional[int] = ..., manifest_digest: _Optional[str] = ..., external: _Optional[bool] = ...) -> None: ...

class ModelVersion(_message.Message):
    __slots__ = ("model_id", "model_name", "number", "stage", "aliases", "bundle", "signature", "algorithm_id", "algorithm_version", "lineage", "code_version", "parameters", "metrics", "registered_by", "created_at", "deployed_as")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_ID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_VERSION_FIELD_NUMBER: _ClassVar[int]
    LINEAGE_FIELD_NUMBER: _ClassVar[int]
    CODE_VERSION_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DEPLOYED_AS_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    model_name: str
    number: int
    stage: Stage
    aliases: _containers.RepeatedScalarFieldContainer[str]
    bundle: _common_pb2.ArtifactRef
    signature: _common_pb2.Signature
    algorithm_id: str
    algorithm_version: str
    lineage: Lineage
    code_version: _common_pb2.CodeVersion
    parameters: _struct_pb2.Struct
    metrics: _containers.ScalarMap[str, float]
    registered_by: str
    created_at: _timestamp_pb2.Timestamp
    deployed_as: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, model_id: _Optional[str] = ..., model_name: _Optional[str] = ..., number: _Optional[int] = ..., stage: _Optional[_Union[Stage, str]] = ..., aliases: _Optional[_Iterable[str]] = ..., bundle: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., signature: _Optional[_Union[_common_pb2.Signature, _Mapping]] = ..., algorithm_id: _Optional[str] = ..., algorithm_version: _Optional[str] = ..., lineage: _Optional[_Union[Lineage, _Mapping]] = ..., code_version: _Optional[_Union[_common_pb2.CodeVersion, _Mapping]] = ..., parameters: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., metrics: _Optional[_Mapping[str, float]] = ..., registered_by: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deployed_as: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateModelRequest(_message.Message):
    __slots__ = ("name", "description", "scenario", "tags")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    scenario: _common_pb2.Scenario
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., scenario: _Optional[_Union[_common_pb2.Scenario, str]] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class GetModelRequest(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: str
    def __init__(self, model: _Optional[str] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ("page", "scenario", "name_contains")
    PAGE_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    NAME_CONTAINS_FIELD_NUMBER: _ClassVar[int]
    page: _common_pb2.PageRequest
    scenario: _common_pb2.Scenario
    name_contains: str
    def __init__(self, page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ..., scenario: _Optional[_Union[_common_pb2.Scenario, str]] = ..., name_contains: _Optional[str] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "page")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[Model]
    page: _common_pb2.PageResponse
    def __init__(self, models: _Optional[_Iterable[_Union[Model, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class RegisterFromRunRequest(_message.Message):
    __slots__ = ("model", "run_id")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    model: str
    run_id: str
    def __init__(self, model: _Optional[str] = ..., run_id: _Optional[str] = ...) -> None: ...

class ExternalModelDeclaration(_message.Message):
    __slots__ = ("model", "scenario", "signature", "file_name", "description")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    model: str
    scenario: _common_pb2.Scenario
    signature: _common_pb2.Signature
    file_name: str
    description: str
    def __init__(self, model: _Optional[str] = ..., scenario: _Optional[_Union[_common_pb2.Scenario, str]] = ..., signature: _Optional[_Union[_common_pb2.Signature, _Mapping]] = ..., file_name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class UploadExternalModelRequest(_message.Message):
    __slots__ = ("declaration", "chunk")
    DECLARATION_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    declaration: ExternalModelDeclaration
    chunk: bytes
    def __init__(self, declaration: _Optional[_Union[ExternalModelDeclaration, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class GetModelVersionRequest(_message.Message):
    __slots__ = ("model", "number", "alias")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    model: str
    number: int
    alias: str
    def __init__(self, model: _Optional[str] = ..., number: _Optional[int] = ..., alias: _Optional[str] = ...) -> None: ...

class DeleteModelVersionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListModelVersionsRequest(_message.Message):
    __slots__ = ("model", "page", "stage")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    model: str
    page: _common_pb2.PageRequest
    stage: Stage
    def __init__(self, model: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ..., stage: _Optional[_Union[Stage, str]] = ...) -> None: ...

class ListModelVersionsResponse(_message.Message):
    __slots__ = ("versions", "page")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[ModelVersion]
    page: _common_pb2.PageResponse
    def __init__(self, versions: _Optional[_Iterable[_Union[ModelVersion, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class CompareModelVersionsRequest(_message.Message):
    __slots__ = ("model", "from_number", "to_number")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FROM_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TO_NUMBER_FIELD_NUMBER: _ClassVar[int]
    model: str
    from_number: int
    to_number: int
    def __init__(self, model: _Optional[str] = ..., from_number: _Optional[int] = ..., to_number: _Optional[int] = ...) -> None: ...

class ValueDifference(_message.Message):
    __slots__ = ("name", "from_value", "to_value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FROM_VALUE_FIELD_NUMBER: _ClassVar[int]
    TO_VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    from_value: str
    to_value: str
    def __init__(self, name: _Optional[str] = ..., from_value: _Optional[str] = ..., to_value: _Optional[str] = ...) -> None: ...

class CompareModelVersionsResponse(_message.Message):
    __slots__ = ("from_version", "to_version", "parameters", "metrics", "data")
    FROM_VERSION_FIELD_NUMBER: _ClassVar[int]
    TO_VERSION_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    from_version: ModelVersion
    to_version: ModelVersion
    parameters: _containers.RepeatedCompositeFieldContainer[ValueDifference]
    metrics: _containers.RepeatedCompositeFieldContainer[ValueDifference]
    data: _containers.RepeatedCompositeFieldContainer[ValueDifference]
    def __init__(self, from_version: _Optional[_Union[ModelVersion, _Mapping]] = ..., to_version: _Optional[_Union[ModelVersion, _Mapping]] = ..., parameters: _Optional[_Iterable[_Union[ValueDifference, _Mapping]]] = ..., metrics: _Optional[_Iterable[_Union[ValueDifference, _Mapping]]] = ..., data: _Optional[_Iterable[_Union[ValueDifference, _Mapping]]] = ...) -> None: ...

class GetLineageRequest(_message.Message):
    __slots__ = ("model_version", "dataset_version")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    model_version: GetModelVersionRequest
    dataset_version: DatasetRef
    def __init__(self, model_version: _Optional[_Union[GetModelVersionRequest, _Mapping]] = ..., dataset_version: _Optional[_Union[DatasetRef, _Mapping]] = ...) -> None: ...

class DatasetRef(_message.Message):
    __slots__ = ("dataset_id", "number")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    number: int
    def __init__(self, dataset_id: _Optional[str] = ..., number: _Optional[int] = ...) -> None: ...

class LineageNode(_message.Message):
    __slots__ = ("kind", "id", "label")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    kind: str
    id: str
    label: str
    def __init__(self, kind: _Optional[str] = ..., id: _Optional[str] = ..., label: _Optional[str] = ...) -> None: ...

class LineageEdge(_message.Message):
    __slots__ = ("from_id", "to_id")
    FROM_ID_FIELD_NUMBER: _ClassVar[int]
    TO_ID_FIELD_NUMBER: _ClassVar[int]
    from_id: str
    to_id: str
    def __init__(self, from_id: _Optional[str] = ..., to_id: _Optional[str] = ...) -> None: ...

class GetLineageResponse(_message.Message):
    __slots__ = ("nodes", "edges")
    NODES_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[LineageNode]
    edges: _containers.RepeatedCompositeFieldContainer[LineageEdge]
    def __init__(self, nodes: _Optional[_Iterable[_Union[LineageNode, _Mapping]]] = ..., edges: _Optional[_Iterable[_Union[LineageEdge, _Mapping]]] = ...) -> None: ...

class ModelCard(_message.Message):
    __slots__ = ("model", "number", "markdown", "intended_use", "risks", "generated", "updated_at")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    MARKDOWN_FIELD_NUMBER: _ClassVar[int]
    INTENDED_USE_FIELD_NUMBER: _ClassVar[int]
    RISKS_FIELD_NUMBER: _ClassVar[int]
    GENERATED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    model: str
    number: int
    markdown: str
    intended_use: str
    risks: str
    generated: _struct_pb2.Struct
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, model: _Optional[str] = ..., number: _Optional[int] = ..., markdown: _Optional[str] = ..., intended_use: _Optional[str] = ..., risks: _Optional[str] = ..., generated: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UpdateModelCardRequest(_message.Message):
    __slots__ = ("model", "number", "intended_use", "risks")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    INTENDED_USE_FIELD_NUMBER: _ClassVar[int]
    RISKS_FIELD_NUMBER: _ClassVar[int]
    model: str
    number: int
    intended_use: str
    risks: str
    def __init__(self, model: _Optional[str] = ..., number: _Optional[int] = ..., intended_use: _Optional[str] = ..., risks: _Optional[str] = ...) -> None: ...

class TransitionStageRequest(_message.Message):
    __slots__ = ("model", "number", "stage", "approval_id")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_ID_FIELD_NUMBER: _ClassVar[int]
    model: str
    number: int
    stage: Stage
    approval_id: str
    def __init__(self, model: _Optional[str] = ..., number: _Optional[int] = ..., stage: _Optional[_Union[Stage, str]] = ..., approval_id: _Optional[str] = ...) -> None: ...

class SetAliasRequest(_message.Message):
    __slots__ = ("model", "number", "alias", "remove")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    REMOVE_FIELD_NUMBER: _ClassVar[int]
    model: str
    number: int
    alias: str
    remove: bool
    def __init__(self, model: _Optional[str] = ..., number: _Optional[int] = ..., alias: _Optional[str] = ..., remove: _Optional[bool] = ...) -> None: ...

class Approval(_message.Message):
    __slots__ = ("id", "model", "number", "target_stage", "reason", "requested_by", "state", "decided_by", "decision_comment", "gate_outcomes", "created_at", "decided_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    TARGET_STAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    DECISION_COMMENT_FIELD_NUMBER: _ClassVar[int]
    GATE_OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    model: str
    number: int
    target_stage: Stage
    reason: str
    requested_by: str
    state: ApprovalState
    decided_by: str
    decision_comment: str
    gate_outcomes: _containers.RepeatedCompositeFieldContainer[GateOutcome]
    created_at: _timestamp_pb2.Timestamp
    decided_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., model: _Optional[str] = ..., number: _Optional[int] = ..., target_stage: _Optional[_Union[Stage, str]] = ..., reason: _Optional[str] = ..., requested_by: _Optional[str] = ..., state: _Optional[_Union[ApprovalState, str]] = ..., decided_by: _Optional[str] = ..., decision_comment: _Optional[str] = ..., gate_outcomes: _Optional[_Iterable[_Union[GateOutcome, _Mapping]]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RequestApprovalRequest(_message.Message):
    __slots__ = ("model", "number", "reason")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    model: str
    number: int
    reason: str
    def __init__(self, model: _Optional[str] = ..., number: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class DecideApprovalRequest(_message.Message):
    __slots__ = ("approval_id", "approve", "comment")
    APPROVAL_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVE_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    approval_id: str
    approve: bool
    comment: str
    def __init__(self, approval_id: _Optional[str] = ..., approve: _Optional[bool] = ..., comment: _Optional[str] = ...) -> None: ...

class ListApprovalsRequest(_message.Message):
    __slots__ = ("model", "state")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    model: str
    state: ApprovalState
    def __init__(self, model: _Optional[str] = ..., state: _Optional[_Union[ApprovalState, str]] = ...) -> None: ...

class ListApprovalsResponse(_message.Message):
    __slots__ = ("approvals",)
    APPROVALS_FIELD_NUMBER: _ClassVar[int]
    approvals: _containers.RepeatedCompositeFieldContainer[Approval]
    def __init__(self, approvals: _Optional[_Iterable[_Union[Approval, _Mapping]]] = ...) -> None: ...

class SetQualityGatesRequest(_message.Message):
    __slots__ = ("model", "gates")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    GATES_FIELD_NUMBER: _ClassVar[int]
    model: str
    gates: _containers.RepeatedCompositeFieldContainer[QualityGate]
    def __init__(self, model: _Optional[str] = ..., gates: _Optional[_Iterable[_Union[QualityGate, _Mapping]]] = ...) -> None: ...

class AutomationRule(_message.Message):
    __slots__ = ("id", "model", "dataset_id", "algorithm_id", "compare_metric", "higher_is_better", "enabled", "created_by")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_ID_FIELD_NUMBER: _ClassVar[int]
    COMPARE_METRIC_FIELD_NUMBER: _ClassVar[int]
    HIGHER_IS_BETTER_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    id: str
    model: str
    dataset_id: str
    algorithm_id: str
    compare_metric: str
    higher_is_better: bool
    enabled: bool
    created_by: str
    def __init__(self, id: _Optional[str] = ..., model: _Optional[str] = ..., dataset_id: _Optional[str] = ..., algorithm_id: _Optional[str] = ..., compare_metric: _Optional[str] = ..., higher_is_better: _Optional[bool] = ..., enabled: _Optional[bool] = ..., created_by: _Optional[str] = ...) -> None: ...

class CreateAutomationRuleRequest(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: AutomationRule
    def __init__(self, rule: _Optional[_Union[AutomationRule, _Mapping]] = ...) -> None: ...

class ListAutomationRulesRequest(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: str
    def __init__(self, model: _Optional[str] = ...) -> None: ...

class ListAutomationRulesResponse(_message.Message):
    __slots__ = ("rules",)
    RULES_FIELD_NUMBER: _ClassVar[int]
    rules: _containers.RepeatedCompositeFieldContainer[AutomationRule]
    def __init__(self, rules: _Optional[_Iterable[_Union[AutomationRule, _Mapping]]] = ...) -> None: ...
