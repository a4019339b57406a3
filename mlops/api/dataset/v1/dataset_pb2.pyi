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

class Purpose(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PURPOSE_UNSPECIFIED: _ClassVar[Purpose]
    PURPOSE_TRAINING: _ClassVar[Purpose]
    PURPOSE_VALIDATION: _ClassVar[Purpose]
    PURPOSE_TESTING: _ClassVar[Purpose]

class VersionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERSION_STATE_UNSPECIFIED: _ClassVar[VersionState]
    VERSION_STATE_PUBLISHED: _ClassVar[VersionState]
    VERSION_STATE_ARCHIVED: _ClassVar[VersionState]

class UploadFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UPLOAD_FORMAT_UNSPECIFIED: _ClassVar[UploadFormat]
    UPLOAD_FORMAT_FILE: _ClassVar[UploadFormat]
    UPLOAD_FORMAT_CSV: _ClassVar[UploadFormat]
    UPLOAD_FORMAT_JSONL: _ClassVar[UploadFormat]
    UPLOAD_FORMAT_LOG_LINES: _ClassVar[UploadFormat]
    UPLOAD_FORMAT_IMAGE_ARCHIVE: _ClassVar[UploadFormat]
    UPLOAD_FORMAT_COCO_JSON: _ClassVar[UploadFormat]

class ArchiveFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ARCHIVE_FORMAT_UNSPECIFIED: _ClassVar[ArchiveFormat]
    ARCHIVE_FORMAT_TAR_GZ: _ClassVar[ArchiveFormat]
    ARCHIVE_FORMAT_ZIP: _ClassVar[ArchiveFormat]
PURPOSE_UNSPECIFIED: Purpose
PURPOSE_TRAINING: Purpose
PURPOSE_VALIDATION: Purpose
PURPOSE_TESTING: Purpose
VERSION_STATE_UNSPECIFIED: VersionState
VERSION_STATE_PUBLISHED: VersionState
VERSION_STATE_ARCHIVED: VersionState
UPLOAD_FORMAT_UNSPECIFIED: UploadFormat
UPLOAD_FORMAT_FILE: UploadFormat
UPLOAD_FORMAT_CSV: UploadFormat
UPLOAD_FORMAT_JSONL: UploadFormat
UPLOAD_FORMAT_LOG_LINES: UploadFormat
UPLOAD_FORMAT_IMAGE_ARCHIVE: UploadFormat
UPLOAD_FORMAT_COCO_JSON: UploadFormat
ARCHIVE_FORMAT_UNSPECIFIED: ArchiveFormat
ARCHIVE_FORMAT_TAR_GZ: ArchiveFormat
ARCHIVE_FORMAT_ZIP: ArchiveFormat

class Dataset(_message.Message):
    __slots__ = ("id", "name", "description", "scenario", "owner", "tags", "created_at", "updated_at", "draft_sample_count", "latest_version")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    DRAFT_SAMPLE_COUNT_FIELD_NUMBER: _ClassVar[int]
    LATEST_VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    description: str
    scenario: _common_pb2.Scenario
    owner: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    draft_sample_count: int
    latest_version: int
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., scenario: _Optional[_Union[_common_pb2.Scenario, str]] = ..., owner: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., draft_sample_count: _Optional[int] = ..., latest_version: _Optional[int] = ...) -> None: ...

class BoundingBox(_message.Message):
    __slots__ = ("label", "x", "y", "width", "height")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    label: str
    x: float
    y: float
    width: float
    height: float
    def __init__(self, label: _Optional[str] = ..., x: _Optional[float] = ..., y: _Optional[float] = ..., width: _Optional[float] = ..., height: _Optional[float] = ...) -> None: ...

class Annotation(_message.Message):
    __slots__ = ("label", "target", "boxes")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    BOXES_FIELD_NUMBER: _ClassVar[int]
    label: str
    target: float
    boxes: BoxList
    def __init__(self, label: _Optional[str] = ..., target: _Optional[float] = ..., boxes: _Optional[_Union[BoxList, _Mapping]] = ...) -> None: ...

class BoxList(_message.Message):
    __slots__ = ("boxes",)
    BOXES_FIELD_NUMBER: _ClassVar[int]
    boxes: _containers.RepeatedCompositeFieldContainer[BoundingBox]
    def __init__(self, boxes: _Optional[_Iterable[_Union[BoundingBox, _Mapping]]] = ...) -> None: ...

class Sample(_message.Message):
    __slots__ = ("id", "dataset_id", "name", "content_sha256", "size_bytes", "media_type", "metadata", "annotation", "purpose", "created_at", "observed_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    ANNOTATION_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    dataset_id: str
    name: str
    content_sha256: str
    size_bytes: int
    media_type: str
    metadata: _struct_pb2.Struct
    annotation: Annotation
    purpose: Purpose
    created_at: _timestamp_pb2.Timestamp
    observed_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., dataset_id: _Optional[str] = ..., name: _Optional[str] = ..., content_sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., media_type: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., annotation: _Optional[_Union[Annotation, _Mapping]] = ..., purpose: _Optional[_Union[Purpose, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., observed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateDatasetRequest(_message.Message):
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

class GetDatasetRequest(_message.Message):
    __slots__ = ("dataset_id",)
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    def __init__(self, dataset_id: _Optional[str] = ...) -> None: ...

class ListDatasetsRequest(_message.Message):
    __slots__ = ("page", "scenario", "owner", "tag", "name_contains")
    PAGE_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    NAME_CONTAINS_FIELD_NUMBER: _ClassVar[int]
    page: _common_pb2.PageRequest
    scenario: _common_pb2.Scenario
    owner: str
    tag: str
    name_contains: str
    def __init__(self, page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ..., scenario: _Optional[_Union[_common_pb2.Scenario, str]] = ..., owner: _Optional[str] = ..., tag: _Optional[str] = ..., name_contains: _Optional[str] = ...) -> None: ...

class ListDatasetsResponse(_message.Message):
    __slots__ = ("datasets", "page")
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    datasets: _containers.RepeatedCompositeFieldContainer[Dataset]
    page: _common_pb2.PageResponse
    def __init__(self, datasets: _Optional[_Iterable[_Union[Dataset, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class UpdateDatasetRequest(_message.Message):
    __slots__ = ("dataset_id", "name", "description", "tags", "replace_tags")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    REPLACE_TAGS_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    name: str
    description: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    replace_tags: bool
    def __init__(self, dataset_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., replace_tags: _Optional[bool] = ...) -> None: ...

class DeleteDatasetRequest(_message.Message):
    __slots__ = ("dataset_id",)
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    def __init__(self, dataset_id: _Optional[str] = ...) -> None: ...

class DeleteDatasetResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UploadHeader(_message.Message):
    __slots__ = ("dataset_id", "format", "file_name", "media_type", "default_purpose", "default_annotation", "metadata", "replace_existing")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_PURPOSE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ANNOTATION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    REPLACE_EXISTING_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    format: UploadFormat
    file_name: str
    media_type: str
    default_purpose: Purpose
    default_annotation: Annotation
    metadata: _struct_pb2.Struct
    replace_existing: bool
    def __init__(self, dataset_id: _Optional[str] = ..., format: _Optional[_Union[UploadFormat, str]] = ..., file_name: _Optional[str] = ..., media_type: _Optional[str] = ..., default_purpose: _Optional[_Union[Purpose, str]] = ..., default_annotation: _Optional[_Union[Annotation, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., replace_existing: _Optional[bool] = ...) -> None: ...

class UploadSamplesRequest(_message.Message):
    __slots__ = ("header", "next_file", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    NEXT_FILE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: UploadHeader
    next_file: UploadHeader
    chunk: bytes
    def __init__(self, header: _Optional[_Union[UploadHeader, _Mapping]] = ..., next_file: _Optional[_Union[UploadHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class UploadSamplesResponse(_message.Message):
    __slots__ = ("samples_added", "bytes_received", "new_blobs", "sample_ids", "samples_replaced", "samples_annotated")
    SAMPLES_ADDED_FIELD_NUMBER: _ClassVar[int]
    BYTES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    NEW_BLOBS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_IDS_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_REPLACED_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_ANNOTATED_FIELD_NUMBER: _ClassVar[int]
    samples_added: int
    bytes_received: int
    new_blobs: int
    sample_ids: _containers.RepeatedScalarFieldContainer[str]
    samples_replaced: int
    samples_annotated: int
    def __init__(self, samples_added: _Optional[int] = ..., bytes_received: _Optional[int] = ..., new_blobs: _Optional[int] = ..., sample_ids: _Optional[_Iterable[str]] = ..., samples_replaced: _Optional[int] = ..., samples_annotated: _Optional[int] = ...) -> None: ...

class SampleFilter(_message.Message):
    __slots__ = ("purpose", "label", "name_prefix", "sample_ids", "unlabeled_only")
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    NAME_PREFIX_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_IDS_FIELD_NUMBER: _ClassVar[int]
    UNLABELED_ONLY_FIELD_NUMBER: _ClassVar[int]
    purpose: Purpose
    label: str
    name_prefix: str
    sample_ids: _containers.RepeatedScalarFieldContainer[str]
    unlabeled_only: bool
    def __init__(self, purpose: _Optional[_Union[Purpose, str]] = ..., label: _Optional[str] = ..., name_prefix: _Optional[str] = ..., sample_ids: _Optional[_Iterable[str]] = ..., unlabeled_only: _Optional[bool] = ...) -> None: ...

class ListSamplesRequest(_message.Message):
    __slots__ = ("dataset_id", "version", "filter", "page")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    version: int
    filter: SampleFilter
    page: _common_pb2.PageRequest
    def __init__(self, dataset_id: _Optional[str] = ..., version: _Optional[int] = ..., filter: _Optional[_Union[SampleFilter, _Mapping]] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListSamplesResponse(_message.Message):
    __slots__ = ("samples", "page")
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    samples: _containers.RepeatedCompositeFieldContainer[Sample]
    page: _common_pb2.PageResponse
    def __init__(self, samples: _Optional[_Iterable[_Union[Sample, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class GetSampleRequest(_message.Message):
    __slots__ = ("dataset_id", "sample_id")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_ID_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    sample_id: str
    def __init__(self, dataset_id: _Optional[str] = ..., sample_id: _Optional[str] = ...) -> None: ...

class UpdateSampleRequest(_message.Message):
    __slots__ = ("dataset_id", "sample_id", "purpose", "annotation", "clear_annotation", "metadata")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    ANNOTATION_FIELD_NUMBER: _ClassVar[int]
    CLEAR_ANNOTATION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    sample_id: str
    purpose: Purpose
    annotation: Annotation
    clear_annotation: bool
    metadata: _struct_pb2.Struct
    def __init__(self, dataset_id: _Optional[str] = ..., sample_id: _Optional[str] = ..., purpose: _Optional[_Union[Purpose, str]] = ..., annotation: _Optional[_Union[Annotation, _Mapping]] = ..., clear_annotation: _Optional[bool] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class DeleteSampleRequest(_message.Message):
    __slots__ = ("dataset_id", "sample_id")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_ID_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    sample_id: str
    def __init__(self, dataset_id: _Optional[str] = ..., sample_id: _Optional[str] = ...) -> None: ...

class DeleteSampleResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeleteSamplesRequest(_message.Message):
    __slots__ = ("dataset_id", "filter")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    filter: SampleFilter
    def __init__(self, dataset_id: _Optional[str] = ..., filter: _Optional[_Union[SampleFilter, _Mapping]] = ...) -> None: ...

class DeleteSamplesResponse(_message.Message):
    __slots__ = ("samples_deleted",)
    SAMPLES_DELETED_FIELD_NUMBER: _ClassVar[int]
    samples_deleted: int
    def __init__(self, samples_deleted: _Optional[int] = ...) -> None: ...

class RelabelSamplesRequest(_message.Message):
    __slots__ = ("dataset_id", "filter", "set_purpose", "set_annotation")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    SET_PURPOSE_FIELD_NUMBER: _ClassVar[int]
    SET_ANNOTATION_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    filter: SampleFilter
    set_purpose: Purpose
    set_annotation: Annotation
    def __init__(self, dataset_id: _Optional[str] = ..., filter: _Optional[_Union[SampleFilter, _Mapping]] = ..., set_purpose: _Optional[_Union[Purpose, str]] = ..., set_annotation: _Optional[_Union[Annotation, _Mapping]] = ...) -> None: ...

class RelabelSamplesResponse(_message.Message):
    __slots__ = ("samples_changed",)
    SAMPLES_CHANGED_FIELD_NUMBER: _ClassVar[int]
    samples_changed: int
    def __init__(self, samples_changed: _Optional[int] = ...) -> None: ...

class SplitSamplesRequest(_message.Message):
    __slots__ = ("dataset_id", "training_ratio", "validation_ratio", "testing_ratio", "seed")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    TRAINING_RATIO_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_RATIO_FIELD_NUMBER: _ClassVar[int]
    TESTING_RATIO_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    training_ratio: float
    validation_ratio: float
    testing_ratio: float
    seed: int
    def __init__(self, dataset_id: _Optional[str] = ..., training_ratio: _Optional[float] = ..., validation_ratio: _Optional[float] = ..., testing_ratio: _Optional[float] = ..., seed: _Optional[int] = ...) -> None: ...

class SplitSamplesResponse(_message.Message):
    __slots__ = ("counts_per_purpose", "strategy")
    class CountsPerPurposeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    COUNTS_PER_PURPOSE_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    counts_per_purpose: _containers.ScalarMap[str, int]
    strategy: str
    def __init__(self, counts_per_purpose: _Optional[_Mapping[str, int]] = ..., strategy: _Optional[str] = ...) -> None: ...

class DatasetVersion(_message.Message):
    __slots__ = ("dataset_id", "number", "state", "manifest_digest", "message", "author", "created_at", "sample_count", "total_bytes", "counts_per_purpose", "counts_per_label", "used_by", "scenario")
    class CountsPerPurposeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class CountsPerLabelEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_DIGEST_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    COUNTS_PER_PURPOSE_FIELD_NUMBER: _ClassVar[int]
    COUNTS_PER_LABEL_FIELD_NUMBER: _ClassVar[int]
    USED_BY_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    number: int
    state: VersionState
    manifest_digest: str
    message: str
    author: str
    created_at: _timestamp_pb2.Timestamp
    sample_count: int
    total_bytes: int
    counts_per_purpose: _containers.ScalarMap[str, int]
    counts_per_label: _containers.ScalarMap[str, int]
    used_by: _containers.RepeatedScalarFieldContainer[str]
    scenario: _common_pb2.Scenario
    def __init__(self, dataset_id: _Optional[str] = ..., number: _Optional[int] = ..., state: _Optional[_Union[VersionState, str]] = ..., manifest_digest: _Optional[str] = ..., message: _Optional[str] = ..., author: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sample_count: _Optional[int] = ..., total_bytes: _Optional[int] = ..., counts_per_purpose: _Optional[_Mapping[str, int]] = ..., counts_per_label: _Optional[_Mapping[str, int]] = ..., used_by: _Optional[_Iterable[str]] = ..., scenario: _Optional[_Union[_common_pb2.Scenario, str]] = ...) -> None: ...

class PublishVersionRequest(_message.Message):
    __slots__ = ("dataset_id", "message")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    message: str
    def __init__(self, dataset_id: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ListVersionsRequest(_message.Message):
    __slots__ = ("dataset_id", "include_archived", "page")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_ARCHIVED_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    include_archived: bool
    page: _common_pb2.PageRequest
    def __init__(self, dataset_id: _Optional[str] = ..., include_archived: _Optional[bool] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListVersionsResponse(_message.Message):
    __slots__ = ("versions", "page")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[DatasetVersion]
    page: _common_pb2.PageResponse
    def __init__(self, versions: _Optional[_Iterable[_Union[DatasetVersion, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class GetVersionRequest(_message.Message):
    __slots__ = ("dataset_id", "number")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    number: int
    def __init__(self, dataset_id: _Optional[str] = ..., number: _Optional[int] = ...) -> None: ...

class DiffVersionsRequest(_message.Message):
    __slots__ = ("dataset_id", "from_number", "to_number")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TO_NUMBER_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    from_number: int
    to_number: int
    def __init__(self, dataset_id: _Optional[str] = ..., from_number: _Optional[int] = ..., to_number: _Optional[int] = ...) -> None: ...

class SampleChange(_message.Message):
    __slots__ = ("name", "from_sha256", "to_sha256", "from_label", "to_label", "from_purpose", "to_purpose")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FROM_SHA256_FIELD_NUMBER: _ClassVar[int]
    TO_SHA256_FIELD_NUMBER: _ClassVar[int]
    FROM_LABEL_FIELD_NUMBER: _ClassVar[int]
    TO_LABEL_FIELD_NUMBER: _ClassVar[int]
    FROM_PURPOSE_FIELD_NUMBER: _ClassVar[int]
    TO_PURPOSE_FIELD_NUMBER: _ClassVar[int]
    name: str
    from_sha256: str
    to_sha256: str
    from_label: str
    to_label: str
    from_purpose: Purpose
    to_purpose: Purpose
    def __init__(self, name: _Optional[str] = ..., from_sha256: _Optional[str] = ..., to_sha256: _Optional[str] = ..., from_label: _Optional[str] = ..., to_label: _Optional[str] = ..., from_purpose: _Optional[_Union[Purpose, str]] = ..., to_purpose: _Optional[_Union[Purpose, str]] = ...) -> None: ...

class DiffVersionsResponse(_message.Message):
    __slots__ = ("added", "removed", "changed", "label_moves", "purpose_moves")
    ADDED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    LABEL_MOVES_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_MOVES_FIELD_NUMBER: _ClassVar[int]
    added: _containers.RepeatedCompositeFieldContainer[SampleChange]
    removed: _containers.RepeatedCompositeFieldContainer[SampleChange]
    changed: _containers.RepeatedCompositeFieldContainer[SampleChange]
    label_moves: int
    purpose_moves: int
    def __init__(self, added: _Optional[_Iterable[_Union[SampleChange, _Mapping]]] = ..., removed: _Optional[_Iterable[_Union[SampleChange, _Mapping]]] = ..., changed: _Optional[_Iterable[_Union[SampleChange, _Mapping]]] = ..., label_moves: _Optional[int] = ..., purpose_moves: _Optional[int] = ...) -> None: ...

class ArchiveVersionRequest(_message.Message):
    __slots__ = ("dataset_id", "number")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    number: int
    def __init__(self, dataset_id: _Optional[str] = ..., number: _Optional[int] = ...) -> None: ...

class RestoreVersionRequest(_message.Message):
    __slots__ = ("dataset_id", "number")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    number: int
    def __init__(self, dataset_id: _Optional[str] = ..., number: _Optional[int] = ...) -> None: ...

class RestoreVersionResponse(_message.Message):
    __slots__ = ("draft_sample_count",)
    DRAFT_SAMPLE_COUNT_FIELD_NUMBER: _ClassVar[int]
    draft_sample_count: int
    def __init__(self, draft_sample_count: _Optional[int] = ...) -> None: ...

class DeleteVersionRequest(_message.Message):
    __slots__ = ("dataset_id", "number")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    number: int
    def __init__(self, dataset_id: _Optional[str] = ..., number: _Optional[int] = ...) -> None: ...

class DeleteVersionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DownloadVersionRequest(_message.Message):
    __slots__ = ("dataset_id", "number", "format")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    number: int
    format: ArchiveFormat
    def __init__(self, dataset_id: _Optional[str] = ..., number: _Optional[int] = ..., format: _Optional[_Union[ArchiveFormat, str]] = ...) -> None: ...

class DownloadChunk(_message.Message):
    __slots__ = ("data", "file_name")
    DATA_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    file_name: str
    def __init__(self, data: _Optional[bytes] = ..., file_name: _Optional[str] = ...) -> None: ...

class GetVersionDownloadPlanRequest(_message.Message):
    __slots__ = ("dataset_id", "number", "expires_seconds", "page")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    number: int
    expires_seconds: int
    page: _common_pb2.PageRequest
    def __init__(self, dataset_id: _Optional[str] = ..., number: _Optional[int] = ..., expires_seconds: _Optional[int] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class DownloadPlanEntry(_message.Message):
    __slots__ = ("member_name", "sample_name", "sha256", "size_bytes", "media_type", "url", "ranged", "offset", "length", "crc32")
    MEMBER_NAME_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_NAME_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    RANGED_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    CRC32_FIELD_NUMBER: _ClassVar[int]
    member_name: str
    sample_name: str
    sha256: str
    size_bytes: int
    media_type: str
    url: str
    ranged: bool
    offset: int
    length: int
    crc32: int
    def __init__(self, member_name: _Optional[str] = ..., sample_name: _Optional[str] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., media_type: _Optional[str] = ..., url: _Optional[str] = ..., ranged: _Optional[bool] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ..., crc32: _Optional[int] = ...) -> None: ...

class VersionDownloadPlan(_message.Message):
    __slots__ = ("entries", "expires_at_unix", "compression_level", "deflate_max_ratio", "parallel_reads", "manifest_url", "manifest_digest", "page")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_LEVEL_FIELD_NUMBER: _ClassVar[int]
    DEFLATE_MAX_RATIO_FIELD_NUMBER: _ClassVar[int]
    PARALLEL_READS_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_URL_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_DIGEST_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[DownloadPlanEntry]
    expires_at_unix: int
    compression_level: int
    deflate_max_ratio: float
    parallel_reads: int
    manifest_url: str
    manifest_digest: str
    page: _common_pb2.PageResponse
    def __init__(self, entries: _Optional[_Iterable[_Union[DownloadPlanEntry, _Mapping]]] = ..., expires_at_unix: _Optional[int] = ..., compression_level: _Optional[int] = ..., deflate_max_ratio: _Optional[float] = ..., parallel_reads: _Optional[int] = ..., manifest_url: _Optional[str] = ..., manifest_digest: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class CollectGarbageRequest(_message.Message):
    __slots__ = ("dry_run",)
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    dry_run: bool
    def __init__(self, dry_run: _Optional[bool] = ...) -> None: ...

class CollectGarbageResponse(_message.Message):
    __slots__ = ("blobs_removed", "bytes_freed", "packs_rewritten")
    BLOBS_REMOVED_FIELD_NUMBER: _ClassVar[int]
    BYTES_FREED_FIELD_NUMBER: _ClassVar[int]
    PACKS_REWRITTEN_FIELD_NUMBER: _ClassVar[int]
    blobs_removed: int
    bytes_freed: int
    packs_rewritten: int
    def __init__(self, blobs_removed: _Optional[int] = ..., bytes_freed: _Optional[int] = ..., packs_rewritten: _Optional[int] = ...) -> None: ...

class LoadDemoDatasetRequest(_message.Message):
    __slots__ = ("scenario", "name", "seed", "publish")
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_FIELD_NUMBER: _ClassVar[int]
    scenario: _common_pb2.Scenario
    name: str
    seed: int
    publish: bool
    def __init__(self, scenario: _Optional[_Union[_common_pb2.Scenario, str]] = ..., name: _Optional[str] = ..., seed: _Optional[int] = ..., publish: _Optional[bool] = ...) -> None: ...

class LoadDemoDatasetResponse(_message.Message):
    __slots__ = ("dataset", "version")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    dataset: Dataset
    version: DatasetVersion
    def __init__(self, dataset: _Optional[_Union[Dataset, _Mapping]] = ..., version: _Optional[_Union[DatasetVersion, _Mapping]] = ...) -> None: ...
