import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from mlops.api.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Pool(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POOL_UNSPECIFIED: _ClassVar[Pool]
    POOL_CPU: _ClassVar[Pool]
    POOL_GPU: _ClassVar[Pool]

class DeploymentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEPLOYMENT_STATE_UNSPECIFIED: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_PENDING: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_READY: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_DEGRADED: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_FAILED: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_STOPPED: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_IDLE: _ClassVar[DeploymentState]

class ReplicaState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPLICA_STATE_UNSPECIFIED: _ClassVar[ReplicaState]
    REPLICA_STATE_LOADING: _ClassVar[ReplicaState]
    REPLICA_STATE_READY: _ClassVar[ReplicaState]
    REPLICA_STATE_FAILED: _ClassVar[ReplicaState]
    REPLICA_STATE_DRAINING: _ClassVar[ReplicaState]

class RevisionRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVISION_ROLE_UNSPECIFIED: _ClassVar[RevisionRole]
    REVISION_ROLE_STABLE: _ClassVar[RevisionRole]
    REVISION_ROLE_CANARY: _ClassVar[RevisionRole]
    REVISION_ROLE_SHADOW: _ClassVar[RevisionRole]
POOL_UNSPECIFIED: Pool
POOL_CPU: Pool
POOL_GPU: Pool
DEPLOYMENT_STATE_UNSPECIFIED: DeploymentState
DEPLOYMENT_STATE_PENDING: DeploymentState
DEPLOYMENT_STATE_READY: DeploymentState
DEPLOYMENT_STATE_DEGRADED: DeploymentState
DEPLOYMENT_STATE_FAILED: DeploymentState
DEPLOYMENT_STATE_STOPPED: DeploymentState
DEPLOYMENT_STATE_IDLE: DeploymentState
REPLICA_STATE_UNSPECIFIED: ReplicaState
REPLICA_STATE_LOADING: ReplicaState
REPLICA_STATE_READY: ReplicaState
REPLICA_STATE_FAILED: ReplicaState
REPLICA_STATE_DRAINING: ReplicaState
REVISION_ROLE_UNSPECIFIED: RevisionRole
REVISION_ROLE_STABLE: RevisionRole
REVISION_ROLE_CANARY: RevisionRole
REVISION_ROLE_SHADOW: RevisionRole

class Resources(_message.Message):
    __slots__ = ("memory_bytes", "threads", "gpu_share")
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    THREADS_FIELD_NUMBER: _ClassVar[int]
    GPU_SHARE_FIELD_NUMBER: _ClassVar[int]
    memory_bytes: int
    threads: int
    gpu_share: float
    def __init__(self, memory_bytes: _Optional[int] = ..., threads: _Optional[int] = ..., gpu_share: _Optional[float] = ...) -> None: ...

class Batching(_message.Message):
    __slots__ = ("max_batch_size", "max_queue_delay_us")
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUE_DELAY_US_FIELD_NUMBER: _ClassVar[int]
    max_batch_size: int
    max_queue_delay_us: int
    def __init__(self, max_batch_size: _Optional[int] = ..., max_queue_delay_us: _Optional[int] = ...) -> None: ...

class ModelVersionRef(_message.Message):
    __slots__ = ("model", "number")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    model: str
    number: int
    def __init__(self, model: _Optional[str] = ..., number: _Optional[int] = ...) -> None: ...

class Replica(_message.Message):
    __slots__ = ("id", "worker_id", "state", "reason", "provider", "revision")
    ID_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    id: str
    worker_id: str
    state: ReplicaState
    reason: str
    provider: str
    revision: int
    def __init__(self, id: _Optional[str] = ..., worker_id: _Optional[str] = ..., state: _Optional[_Union[ReplicaState, str]] = ..., reason: _Optional[str] = ..., provider: _Optional[str] = ..., revision: _Optional[int] = ...) -> None: ...

class Revision(_message.Message):
    __slots__ = ("number", "model_version", "resources", "batching", "replicas", "created_at", "created_by", "reason")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    BATCHING_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    number: int
    model_version: ModelVersionRef
    resources: Resources
    batching: Batching
    replicas: int
    created_at: _timestamp_pb2.Timestamp
    created_by: str
    reason: str
    def __init__(self, number: _Optional[int] = ..., model_version: _Optional[_Union[ModelVersionRef, _Mapping]] = ..., resources: _Optional[_Union[Resources, _Mapping]] = ..., batching: _Optional[_Union[Batching, _Mapping]] = ..., replicas: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class TrafficPolicy(_message.Message):
    __slots__ = ("stable_revision", "canary_revision", "canary_weight", "shadow_revision", "max_error_rate", "max_p99_latency_ms")
    STABLE_REVISION_FIELD_NUMBER: _ClassVar[int]
    CANARY_REVISION_FIELD_NUMBER: _ClassVar[int]
    CANARY_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    SHADOW_REVISION_FIELD_NUMBER: _ClassVar[int]
    MAX_ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    MAX_P99_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    stable_revision: int
    canary_revision: int
    canary_weight: int
    shadow_revision: int
    max_error_rate: float
    max_p99_latency_ms: float
    def __init__(self, stable_revision: _Optional[int] = ..., canary_revision: _Optional[int] = ..., canary_weight: _Optional[int] = ..., shadow_revision: _Optional[int] = ..., max_error_rate: _Optional[float] = ..., max_p99_latency_ms: _Optional[float] = ...) -> None: ...

class Deployment(_message.Message):
    __slots__ = ("name", "state", "pool", "revisions", "traffic", "replicas", "public", "request_logging", "idle_after_seconds", "ttl_seconds", "last_request_at", "created_at", "owner", "scenario", "request_log_sample_rate", "request_log_max_payload_bytes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    REVISIONS_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_FIELD_NUMBER: _ClassVar[int]
    REQUEST_LOGGING_FIELD_NUMBER: _ClassVar[int]
    IDLE_AFTER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LAST_REQUEST_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    REQUEST_LOG_SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_LOG_MAX_PAYLOAD_BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: DeploymentState
    pool: Pool
    revisions: _containers.RepeatedCompositeFieldContainer[Revision]
    traffic: TrafficPolicy
    replicas: _containers.RepeatedCompositeFieldContainer[Replica]
    public: bool
    request_logging: bool
    idle_after_seconds: int
    ttl_seconds: int
    last_request_at: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    owner: str
    scenario: _common_pb2.Scenario
    request_log_sample_rate: float
    request_log_max_payload_bytes: int
    def __init__(self, name: _Optional[str] = ..., state: _Optional[_Union[DeploymentState, str]] = ..., pool: _Optional[_Union[Pool, str]] = ..., revisions: _Optional[_Iterable[_Union[Revision, _Mapping]]] = ..., traffic: _Optional[_Union[TrafficPolicy, _Mapping]] = ..., replicas: _Optional[_Iterable[_Union[Replica, _Mapping]]] = ..., public: _Optional[bool] = ..., request_logging: _Optional[bool] = ..., idle_after_seconds: _Optional[int] = ..., ttl_seconds: _Optional[int] = ..., last_request_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., owner: _Optional[str] = ..., scenario: _Optional[_Union[_common_pb2.Scenario, str]] = ..., request_log_sample_rate: _Optional[float] = ..., request_log_max_payload_bytes: _Optional[int] = ...) -> None: ...

class DeployRequest(_message.Message):
    __slots__ = ("name", "model_version", "pool", "replicas", "resources", "batching", "public", "request_logging", "idle_after_seconds", "ttl_seconds", "request_log_sample_rate", "request_log_max_payload_bytes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    BATCHING_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_FIELD_NUMBER: _ClassVar[int]
    REQUEST_LOGGING_FIELD_NUMBER: _ClassVar[int]
    IDLE_AFTER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_LOG_SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_LOG_MAX_PAYLOAD_BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    model_version: ModelVersionRef
    pool: Pool
    replicas: int
    resources: Resources
    batching: Batching
    public: bool
    request_logging: bool
    idle_after_seconds: int
    ttl_seconds: int
    request_log_sample_rate: float
    request_log_max_payload_bytes: int
    def __init__(self, name: _Optional[str] = ..., model_version: _Optional[_Union[ModelVersionRef, _Mapping]] = ..., pool: _Optional[_Union[Pool, str]] = ..., replicas: _Optional[int] = ..., resources: _Optional[_Union[Resources, _Mapping]] = ..., batching: _Optional[_Union[Batching, _Mapping]] = ..., public: _Optional[bool] = ..., request_logging: _Optional[bool] = ..., idle_after_seconds: _Optional[int] = ..., ttl_seconds: _Optional[int] = ..., request_log_sample_rate: _Optional[float] = ..., request_log_max_payload_bytes: _Optional[int] = ...) -> None: ...

class GetDeploymentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListDeploymentsRequest(_message.Message):
    __slots__ = ("page", "state")
    PAGE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    page: _common_pb2.PageRequest
    state: DeploymentState
    def __init__(self, page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ..., state: _Optional[_Union[DeploymentState, str]] = ...) -> None: ...

class ListDeploymentsResponse(_message.Message):
    __slots__ = ("deployments", "page")
    DEPLOYMENTS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    deployments: _containers.RepeatedCompositeFieldContainer[Deployment]
    page: _common_pb2.PageResponse
    def __init__(self, deployments: _Optional[_Iterable[_Union[Deployment, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class ScaleRequest(_message.Message):
    __slots__ = ("name", "replicas")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    name: str
    replicas: int
    def __init__(self, name: _Optional[str] = ..., replicas: _Optional[int] = ...) -> None: ...

class UpdateRequest(_message.Message):
    __slots__ = ("name", "model_version", "resources", "batching", "canary_weight", "shadow", "request_logging", "request_log_sample_rate", "request_log_max_payload_bytes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    BATCHING_FIELD_NUMBER: _ClassVar[int]
    CANARY_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    SHADOW_FIELD_NUMBER: _ClassVar[int]
    REQUEST_LOGGING_FIELD_NUMBER: _ClassVar[int]
    REQUEST_LOG_SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_LOG_MAX_PAYLOAD_BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    model_version: ModelVersionRef
    resources: Resources
    batching: Batching
    canary_weight: int
    shadow: bool
    request_logging: bool
    request_log_sample_rate: float
    request_log_max_payload_bytes: int
    def __init__(self, name: _Optional[str] = ..., model_version: _Optional[_Union[ModelVersionRef, _Mapping]] = ..., resources: _Optional[_Union[Resources, _Mapping]] = ..., batching: _Optional[_Union[Batching, _Mapping]] = ..., canary_weight: _Optional[int] = ..., shadow: _Optional[bool] = ..., request_logging: _Optional[bool] = ..., request_log_sample_rate: _Optional[float] = ..., request_log_max_payload_bytes: _Optional[int] = ...) -> None: ...

class SetTrafficRequest(_message.Message):
    __slots__ = ("name", "traffic")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_FIELD_NUMBER: _ClassVar[int]
    name: str
    traffic: TrafficPolicy
    def __init__(self, name: _Optional[str] = ..., traffic: _Optional[_Union[TrafficPolicy, _Mapping]] = ...) -> None: ...

class PromoteRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RollbackRequest(_message.Message):
    __slots__ = ("name", "to_revision", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TO_REVISION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    to_revision: int
    reason: str
    def __init__(self, name: _Optional[str] = ..., to_revision: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class ListRevisionsResponse(_message.Message):
    __slots__ = ("revisions",)
    REVISIONS_FIELD_NUMBER: _ClassVar[int]
    revisions: _containers.RepeatedCompositeFieldContainer[Revision]
    def __init__(self, revisions: _Optional[_Iterable[_Union[Revision, _Mapping]]] = ...) -> None: ...

class RemoveResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeploymentMetrics(_message.Message):
    __slots__ = ("name", "requests", "errors", "latency_p50_ms", "latency_p99_ms", "mean_batch_size", "mean_queue_time_ms", "revisions")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P50_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P99_MS_FIELD_NUMBER: _ClassVar[int]
    MEAN_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    MEAN_QUEUE_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    REVISIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    requests: int
    errors: int
    latency_p50_ms: float
    latency_p99_ms: float
    mean_batch_size: float
    mean_queue_time_ms: float
    revisions: _containers.RepeatedCompositeFieldContainer[RevisionMetrics]
    def __init__(self, name: _Optional[str] = ..., requests: _Optional[int] = ..., errors: _Optional[int] = ..., latency_p50_ms: _Optional[float] = ..., latency_p99_ms: _Optional[float] = ..., mean_batch_size: _Optional[float] = ..., mean_queue_time_ms: _Optional[float] = ..., revisions: _Optional[_Iterable[_Union[RevisionMetrics, _Mapping]]] = ...) -> None: ...

class RevisionMetrics(_message.Message):
    __slots__ = ("revision", "role", "requests", "errors", "latency_p50_ms", "latency_p99_ms", "mean_batch_size", "mean_queue_time_ms")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P50_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P99_MS_FIELD_NUMBER: _ClassVar[int]
    MEAN_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    MEAN_QUEUE_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    revision: int
    role: RevisionRole
    requests: int
    errors: int
    latency_p50_ms: float
    latency_p99_ms: float
    mean_batch_size: float
    mean_queue_time_ms: float
    def __init__(self, revision: _Optional[int] = ..., role: _Optional[_Union[RevisionRole, str]] = ..., requests: _Optional[int] = ..., errors: _Optional[int] = ..., latency_p50_ms: _Optional[float] = ..., latency_p99_ms: _Optional[float] = ..., mean_batch_size: _Optional[float] = ..., mean_queue_time_ms: _Optional[float] = ...) -> None: ...

class Worker(_message.Message):
    __slots__ = ("id", "pool", "address", "memory_bytes", "threads", "gpu_capacity", "providers", "last_heartbeat", "alive")
    ID_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    THREADS_FIELD_NUMBER: _ClassVar[int]
    GPU_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    ALIVE_FIELD_NUMBER: _ClassVar[int]
    id: str
    pool: Pool
    address: str
    memory_bytes: int
    threads: int
    gpu_capacity: float
    providers: _containers.RepeatedScalarFieldContainer[str]
    last_heartbeat: _timestamp_pb2.Timestamp
    alive: bool
    def __init__(self, id: _Optional[str] = ..., pool: _Optional[_Union[Pool, str]] = ..., address: _Optional[str] = ..., memory_bytes: _Optional[int] = ..., threads: _Optional[int] = ..., gpu_capacity: _Optional[float] = ..., providers: _Optional[_Iterable[str]] = ..., last_heartbeat: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., alive: _Optional[bool] = ...) -> None: ...

class ListWorkersRequest(_message.Message):
    __slots__ = ("pool",)
    POOL_FIELD_NUMBER: _ClassVar[int]
    pool: Pool
    def __init__(self, pool: _Optional[_Union[Pool, str]] = ...) -> None: ...

class ListWorkersResponse(_message.Message):
    __slots__ = ("workers",)
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    workers: _containers.RepeatedCompositeFieldContainer[Worker]
    def __init__(self, workers: _Optional[_Iterable[_Union[Worker, _Mapping]]] = ...) -> None: ...

class RegisterWorkerRequest(_message.Message):
    __slots__ = ("worker",)
    WORKER_FIELD_NUMBER: _ClassVar[int]
    worker: Worker
    def __init__(self, worker: _Optional[_Union[Worker, _Mapping]] = ...) -> None: ...

class RegisterWorkerResponse(_message.Message):
    __slots__ = ("heartbeat_interval_seconds",)
    HEARTBEAT_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    heartbeat_interval_seconds: int
    def __init__(self, heartbeat_interval_seconds: _Optional[int] = ...) -> None: ...

class ReplicaReport(_message.Message):
    __slots__ = ("replica_id", "state", "reason", "provider")
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    replica_id: str
    state: ReplicaState
    reason: str
    provider: str
    def __init__(self, replica_id: _Optional[str] = ..., state: _Optional[_Union[ReplicaState, str]] = ..., reason: _Optional[str] = ..., provider: _Optional[str] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("worker_id", "replicas", "memory_used_bytes", "models")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    replicas: _containers.RepeatedCompositeFieldContainer[ReplicaReport]
    memory_used_bytes: int
    models: _containers.RepeatedCompositeFieldContainer[DeploymentMetrics]
    def __init__(self, worker_id: _Optional[str] = ..., replicas: _Optional[_Iterable[_Union[ReplicaReport, _Mapping]]] = ..., memory_used_bytes: _Optional[int] = ..., models: _Optional[_Iterable[_Union[DeploymentMetrics, _Mapping]]] = ...) -> None: ...

class ReplicaAssignment(_message.Message):
    __slots__ = ("replica_id", "deployment", "revision", "bundle", "resources", "batching", "public", "canary_weight", "shadow", "model_version", "request_log_sample_rate", "request_log_max_payload_bytes")
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    BATCHING_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_FIELD_NUMBER: _ClassVar[int]
    CANARY_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    SHADOW_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_LOG_SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_LOG_MAX_PAYLOAD_BYTES_FIELD_NUMBER: _ClassVar[int]
    replica_id: str
    deployment: str
    revision: int
    bundle: _common_pb2.ArtifactRef
    resources: Resources
    batching: Batching
    public: bool
    canary_weight: int
    shadow: bool
    model_version: ModelVersionRef
    request_log_sample_rate: float
    request_log_max_payload_bytes: int
    def __init__(self, replica_id: _Optional[str] = ..., deployment: _Optional[str] = ..., revision: _Optional[int] = ..., bundle: _Optional[_Union[_common_pb2.ArtifactRef, _Mapping]] = ..., resources: _Optional[_Union[Resources, _Mapping]] = ..., batching: _Optional[_Union[Batching, _Mapping]] = ..., public: _Optional[bool] = ..., canary_weight: _Optional[int] = ..., shadow: _Optional[bool] = ..., model_version: _Optional[_Union[ModelVersionRef, _Mapping]] = ..., request_log_sample_rate: _Optional[float] = ..., request_log_max_payload_bytes: _Optional[int] = ...) -> None: ...

class ListRequestLogRecordsRequest(_message.Message):
    __slots__ = ("name", "start_time", "end_time", "page")
    NAME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    name: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    page: _common_pb2.PageRequest
    def __init__(self, name: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class RequestLogRecord(_message.Message):
    __slots__ = ("time", "deployment", "revision", "model_version", "request_id", "protocol", "endpoint", "latency_ms", "worker_id", "inputs_json", "outputs_json", "truncated")
    TIME_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    INPUTS_JSON_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_JSON_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    time: _timestamp_pb2.Timestamp
    deployment: str
    revision: int
    model_version: ModelVersionRef
    request_id: str
    protocol: str
    endpoint: str
    latency_ms: float
    worker_id: str
    inputs_json: str
    outputs_json: str
    truncated: bool
    def __init__(self, time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deployment: _Optional[str] = ..., revision: _Optional[int] = ..., model_version: _Optional[_Union[ModelVersionRef, _Mapping]] = ..., request_id: _Optional[str] = ..., protocol: _Optional[str] = ..., endpoint: _Optional[str] = ..., latency_ms: _Optional[float] = ..., worker_id: _Optional[str] = ..., inputs_json: _Optional[str] = ..., outputs_json: _Optional[str] = ..., truncated: _Optional[bool] = ...) -> None: ...

class ListRequestLogRecordsResponse(_message.Message):
    __slots__ = ("records", "page")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[RequestLogRecord]
    page: _common_pb2.PageResponse
    def __init__(self, records: _Optional[_Iterable[_Union[RequestLogRecord, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("assignments",)
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    assignments: _containers.RepeatedCompositeFieldContainer[ReplicaAssignment]
    def __init__(self, assignments: _Optional[_Iterable[_Union[ReplicaAssignment, _Mapping]]] = ...) -> None: ...
