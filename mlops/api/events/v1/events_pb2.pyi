from google.protobuf import struct_pb2 as _struct_pb2
from mlops.api.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DatasetCreated(_message.Message):
    __slots__ = ("dataset_id", "name", "scenario", "owner")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    name: str
    scenario: _common_pb2.Scenario
    owner: str
    def __init__(self, dataset_id: _Optional[str] = ..., name: _Optional[str] = ..., scenario: _Optional[_Union[_common_pb2.Scenario, str]] = ..., owner: _Optional[str] = ...) -> None: ...

class DatasetVersionPublished(_message.Message):
    __slots__ = ("dataset_id", "number", "manifest_digest", "counts_per_purpose", "sample_count", "author", "scenario")
    class CountsPerPurposeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_DIGEST_FIELD_NUMBER: _ClassVar[int]
    COUNTS_PER_PURPOSE_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_COUNT_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    number: int
    manifest_digest: str
    counts_per_purpose: _containers.ScalarMap[str, int]
    sample_count: int
    author: str
    scenario: _common_pb2.Scenario
    def __init__(self, dataset_id: _Optional[str] = ..., number: _Optional[int] = ..., manifest_digest: _Optional[str] = ..., counts_per_purpose: _Optional[_Mapping[str, int]] = ..., sample_count: _Optional[int] = ..., author: _Optional[str] = ..., scenario: _Optional[_Union[_common_pb2.Scenario, str]] = ...) -> None: ...

class DatasetVersionArchived(_message.Message):
    __slots__ = ("dataset_id", "number", "archived")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    ARCHIVED_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    number: int
    archived: bool
    def __init__(self, dataset_id: _Optional[str] = ..., number: _Optional[int] = ..., archived: _Optional[bool] = ...) -> None: ...

class RunQueued(_message.Message):
    __slots__ = ("run_id", "dataset_id", "dataset_version", "algorithm_id", "algorithm_version", "owner", "pool")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_ID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_VERSION_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    dataset_id: str
    dataset_version: int
    algorithm_id: str
    algorithm_version: str
    owner: str
    pool: str
    def __init__(self, run_id: _Optional[str] = ..., dataset_id: _Optional[str] = ..., dataset_version: _Optional[int] = ..., algorithm_id: _Optional[str] = ..., algorithm_version: _Optional[str] = ..., owner: _Optional[str] = ..., pool: _Optional[str] = ...) -> None: ...

class RunStarted(_message.Message):
    __slots__ = ("run_id", "worker")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    worker: str
    def __init__(self, run_id: _Optional[str] = ..., worker: _Optional[str] = ...) -> None: ...

class RunFinished(_message.Message):
    __slots__ = ("run_id", "status", "summary_metrics", "artifacts", "failure_reason", "dataset_id", "dataset_version", "algorithm_id", "algorithm_version")
    class SummaryMetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_METRICS_FIELD_NUMBER: _ClassVar[int]
    ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_ID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_VERSION_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    status: str
    summary_metrics: _containers.ScalarMap[str, float]
    artifacts: _containers.RepeatedCompositeFieldContainer[_common_pb2.ArtifactRef]
    failure_reason: str
    dataset_id: str
    dataset_version: int
    algorithm_id: str
    algorithm_version: str
    def __init__(self, run_id: _Optional[str] = ..., status: _Optional[str] = ..., summary_metrics: _Optional[_Mapping[str, float]] = ..., artifacts: _Optional[_Iterable[_Union[_common_pb2.ArtifactRef, _Mapping]]] = ..., failure_reason: _Optional[str] = ..., dataset_id: _Optional[str] = ..., dataset_version: _Optional[int] = ..., algorithm_id: _Optional[str] = ..., algorithm_version: _Optional[str] = ...) -> None: ...

class ModelVersionRegistered(_message.Message):
    __slots__ = ("model_id", "model_name", "number", "run_id", "dataset_id", "dataset_version", "bundle", "external")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    model_name: str
    number: int
    run_id: str
    dataset_id: str
    dataset_version: int
    bundle: _common_pb2.ArtifactRef
    external: bool
    def __init__(self, model_id: _Optional[str] = ..., model_name: _Optional[str] = ..., number: _Optional[int] = ..., run_id: _Optional[str] = ..., dataset_id: _Optional[str] = ..., dataset_version: _Optional[int] = ..., bundle: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., external: _Optional[bool] = ...) -> None: ...

class ModelVersionStageChanged(_message.Message):
    __slots__ = ("model_name", "number", "from_stage", "to_stage", "actor", "approval_id")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    FROM_STAGE_FIELD_NUMBER: _ClassVar[int]
    TO_STAGE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_ID_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    number: int
    from_stage: str
    to_stage: str
    actor: str
    approval_id: str
    def __init__(self, model_name: _Optional[str] = ..., number: _Optional[int] = ..., from_stage: _Optional[str] = ..., to_stage: _Optional[str] = ..., actor: _Optional[str] = ..., approval_id: _Optional[str] = ...) -> None: ...

class ModelVersionDeleted(_message.Message):
    __slots__ = ("model_name", "number", "dataset_id", "dataset_version")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    number: int
    dataset_id: str
    dataset_version: int
    def __init__(self, model_name: _Optional[str] = ..., number: _Optional[int] = ..., dataset_id: _Optional[str] = ..., dataset_version: _Optional[int] = ...) -> None: ...

class ApprovalRequested(_message.Message):
    __slots__ = ("approval_id", "model_name", "number", "requested_by", "reason", "gates_passed")
    APPROVAL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    GATES_PASSED_FIELD_NUMBER: _ClassVar[int]
    approval_id: str
    model_name: str
    number: int
    requested_by: str
    reason: str
    gates_passed: bool
    def __init__(self, approval_id: _Optional[str] = ..., model_name: _Optional[str] = ..., number: _Optional[int] = ..., requested_by: _Optional[str] = ..., reason: _Optional[str] = ..., gates_passed: _Optional[bool] = ...) -> None: ...

class ApprovalDecided(_message.Message):
    __slots__ = ("approval_id", "model_name", "number", "approved", "decided_by")
    APPROVAL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    APPROVED_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    approval_id: str
    model_name: str
    number: int
    approved: bool
    decided_by: str
    def __init__(self, approval_id: _Optional[str] = ..., model_name: _Optional[str] = ..., number: _Optional[int] = ..., approved: _Optional[bool] = ..., decided_by: _Optional[str] = ...) -> None: ...

class ServiceDeployed(_message.Message):
    __slots__ = ("deployment", "revision", "model_name", "model_version", "pool")
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    deployment: str
    revision: int
    model_name: str
    model_version: int
    pool: str
    def __init__(self, deployment: _Optional[str] = ..., revision: _Optional[int] = ..., model_name: _Optional[str] = ..., model_version: _Optional[int] = ..., pool: _Optional[str] = ...) -> None: ...

class ServiceUpdated(_message.Message):
    __slots__ = ("deployment", "revision", "model_name", "model_version", "change")
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    deployment: str
    revision: int
    model_name: str
    model_version: int
    change: str
    def __init__(self, deployment: _Optional[str] = ..., revision: _Optional[int] = ..., model_name: _Optional[str] = ..., model_version: _Optional[int] = ..., change: _Optional[str] = ...) -> None: ...

class ServiceRolledBack(_message.Message):
    __slots__ = ("deployment", "from_revision", "to_revision", "reason", "automatic")
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    FROM_REVISION_FIELD_NUMBER: _ClassVar[int]
    TO_REVISION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AUTOMATIC_FIELD_NUMBER: _ClassVar[int]
    deployment: str
    from_revision: int
    to_revision: int
    reason: str
    automatic: bool
    def __init__(self, deployment: _Optional[str] = ..., from_revision: _Optional[int] = ..., to_revision: _Optional[int] = ..., reason: _Optional[str] = ..., automatic: _Optional[bool] = ...) -> None: ...

class ServiceStopped(_message.Message):
    __slots__ = ("deployment", "reason")
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    deployment: str
    reason: str
    def __init__(self, deployment: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class Ping(_message.Message):
    __slots__ = ("note", "attributes")
    NOTE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    note: str
    attributes: _struct_pb2.Struct
    def __init__(self, note: _Optional[str] = ..., attributes: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
