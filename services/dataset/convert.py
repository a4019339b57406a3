"""Protobuf messages to domain values and back: the only place that knows both."""

from __future__ import annotations

from datetime import datetime

from google.protobuf import timestamp_pb2

from mlops.api.common.v1 import common_pb2
from mlops.api.dataset.v1 import dataset_pb2
from mlops.datasets.archive import ArchiveFormat
from mlops.kernel.errors import InvalidArgument
from mlops.kernel.structs import dict_to_struct, struct_to_dict

from .domain import (
    Annotation,
    BoundingBox,
    Boxes,
    Dataset,
    Label,
    ManifestDiff,
    ManifestEntry,
    Purpose,
    Sample,
    SampleChange,
    SampleFilter,
    Scenario,
    Target,
    VersionState,
)
from .download_plan import DownloadPlan, PlannedBlob
from .ingest import UploadFormat, UploadSpec
from .service import DatasetView
from .settings import DatasetSettings
from .store import VersionRecord

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def timestamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def scenario_from_proto(value: int, *, field: str = "scenario") -> Scenario:
    if value == common_pb2.SCENARIO_UNSPECIFIED:
        raise InvalidArgument("a scenario is required", field=field)
    try:
        return Scenario.parse(common_pb2.Scenario.Name(value), field=field)  # type: ignore[arg-type]
    except ValueError:
        raise InvalidArgument(f"unknown scenario {value}", field=field) from None


def scenario_to_proto(scenario: Scenario) -> int:
    return common_pb2.Scenario.Value(f"SCENARIO_{scenario.name}")


def purpose_from_proto(value: int, *, field: str = "purpose") -> Purpose | None:
    """None for PURPOSE_UNSPECIFIED; an unknown number is refused."""
    if value == dataset_pb2.PURPOSE_UNSPECIFIED:
        return None
    try:
        name = dataset_pb2.Purpose.Name(value)  # type: ignore[arg-type]
    except ValueError:
        raise InvalidArgument(f"unknown purpose value {value}", field=field) from None
    return Purpose.parse(name, field=field)


def purpose_to_proto(purpose: Purpose | None) -> int:
    if purpose is None:
        return dataset_pb2.PURPOSE_UNSPECIFIED
    return dataset_pb2.Purpose.Value(f"PURPOSE_{purpose.name}")


def upload_format_from_proto(value: int) -> UploadFormat:
    try:
        name = dataset_pb2.UploadFormat.Name(value)  # type: ignore[arg-type]
    except ValueError:
        raise InvalidArgument(f"unknown upload format {value}", field="format") from None
    if value == dataset_pb2.UPLOAD_FORMAT_UNSPECIFIED:
        raise InvalidArgument("an upload names its format", field="format")
    return UploadFormat(name.removeprefix("UPLOAD_FORMAT_").lower())


def archive_format_from_proto(value: int) -> ArchiveFormat:
    if value in (dataset_pb2.ARCHIVE_FORMAT_UNSPECIFIED, dataset_pb2.ARCHIVE_FORMAT_TAR_GZ):
        return ArchiveFormat.TAR_GZ
    if value == dataset_pb2.ARCHIVE_FORMAT_ZIP:
        return ArchiveFormat.ZIP
    raise InvalidArgument(f"unknown archive format {value}", field="format")


def annotation_from_proto(message: dataset_pb2.Annotation, *, field: str = "annotation") -> Annotation:
    kind = message.WhichOneof("value")
    if kind == "label":
        return Label(message.label)
    if kind == "target":
        return Target(message.target)
    if kind == "boxes":
        return Boxes(tuple(BoundingBox(b.label, b.x, b.y, b.width, b.height) for b in message.boxes.boxes))
    return None


def annotation_to_proto(annotation: Annotation) -> dataset_pb2.Annotation | None:
    if annotation is None:
        return None
    if isinstance(annotation, Label):
        return dataset_pb2.Annotation(label=annotation.name)
    if isinstance(annotation, Target):
        return dataset_pb2.Annotation(target=annotation.value)
    boxes = [
        dataset_pb2.BoundingBox(label=b.label, x=b.x, y=b.y, width=b.width, height=b.height)
        for b in annotation.boxes
    ]
    return dataset_pb2.Annotation(boxes=dataset_pb2.BoxList(boxes=boxes))


def upload_spec(header: dataset_pb2.UploadHeader) -> UploadSpec:
    return UploadSpec(
        file_name=header.file_name,
        format=upload_format_from_proto(header.format),
        media_type=header.media_type,
        default_purpose=purpose_from_proto(header.default_purpose, field="default_purpose"),
        default_annotation=annotation_from_proto(header.default_annotation, field="default_annotation"),
        metadata=struct_to_dict(header.metadata) if header.HasField("metadata") else {},
    )


def sample_filter(message: dataset_pb2.SampleFilter) -> SampleFilter:
    return SampleFilter(
        purpose=purpose_from_proto(message.purpose, field="filter.purpose"),
        label=message.label,
        name_prefix=message.name_prefix,
        sample_ids=frozenset(message.sample_ids),
        unlabeled_only=message.unlabeled_only,
    )


def page_window(page: common_pb2.PageRequest) -> tuple[int, int]:
    """(offset, limit) from a page request; the token is the offset the previous page handed out."""
    size = page.page_size or DEFAULT_PAGE_SIZE
    if size < 0:
        raise InvalidArgument("page_size cannot be negative", field="page.page_size")
    offset = 0
    if page.page_token:
        if not page.page_token.isdigit():
            raise InvalidArgument("not a page token this service handed out", field="page.page_token")
        offset = int(page.page_token)
    return offset, min(size, MAX_PAGE_SIZE)


def page_response(total: int, next_offset: int | None) -> common_pb2.PageResponse:
    token = "" if next_offset is None else str(next_offset)
    return common_pb2.PageResponse(next_page_token=token, total_size=total)


def dataset_to_proto(view: DatasetView) -> dataset_pb2.Dataset:
    dataset: Dataset = view.dataset
    return dataset_pb2.Dataset(
        id=dataset.dataset_id,
        name=dataset.name,
        description=dataset.description,
        scenario=scenario_to_proto(dataset.scenario),  # type: ignore[arg-type]
        owner=dataset.owner,
        tags=list(dataset.tags),
        created_at=timestamp(dataset.created_at),
        updated_at=timestamp(dataset.updated_at),
        draft_sample_count=view.draft_sample_count,
        latest_version=dataset.latest_version,
    )


def sample_to_proto(dataset_id: str, sample: Sample | ManifestEntry) -> dataset_pb2.Sample:
    if isinstance(sample, ManifestEntry):
        sample_id, sha256, created_at = "", sample.sha256, None
    else:
        sample_id, sha256, created_at = sample.sample_id, sample.content_sha256, sample.created_at
    message = dataset_pb2.Sample(
        id=sample_id,
        dataset_id=dataset_id,
        name=sample.name,
        content_sha256=sha256,
        size_bytes=sample.size_bytes,
        media_type=sample.media_type,
        purpose=purpose_to_proto(sample.purpose),  # type: ignore[arg-type]
        observed_at=timestamp(sample.observed_at),
        created_at=timestamp(created_at),
    )
    if sample.metadata:
        message.metadata.CopyFrom(dict_to_struct(dict(sample.metadata)))
    annotation = annotation_to_proto(sample.annotation)
    if annotation is not None:
        message.annotation.CopyFrom(annotation)
    return message


def version_to_proto(version: VersionRecord) -> dataset_pb2.DatasetVersion:
    state = (
        dataset_pb2.VERSION_STATE_ARCHIVED
        if version.state is VersionState.ARCHIVED
        else dataset_pb2.VERSION_STATE_PUBLISHED
    )
    return dataset_pb2.DatasetVersion(
        dataset_id=version.dataset_id,
        number=version.number,
        state=state,
        manifest_digest=version.manifest_digest,
        message=version.message,
        author=version.author,
        created_at=timestamp(version.created_at),
        sample_count=version.sample_count,
        total_bytes=version.total_bytes,
        counts_per_purpose=version.counts_per_purpose,
        counts_per_label=version.counts_per_label,
        used_by=list(version.used_by),
        scenario=scenario_to_proto(version.scenario),  # type: ignore[arg-type]
    )


def _change(change: SampleChange) -> dataset_pb2.SampleChange:
    return dataset_pb2.SampleChange(
        name=change.name,
        from_sha256=change.from_sha256,
        to_sha256=change.to_sha256,
        from_label=change.from_label,
        to_label=change.to_label,
        from_purpose=purpose_to_proto(change.from_purpose),  # type: ignore[arg-type]
        to_purpose=purpose_to_proto(change.to_purpose),  # type: ignore[arg-type]
    )


def diff_to_proto(diff: ManifestDiff) -> dataset_pb2.DiffVersionsResponse:
    return dataset_pb2.DiffVersionsResponse(
        added=[_change(c) for c in diff.added],
        removed=[_change(c) for c in diff.removed],
        changed=[_change(c) for c in diff.changed],
        label_moves=diff.label_moves,
        purpose_moves=diff.purpose_moves,
    )


def planned_blob_to_proto(blob: PlannedBlob) -> dataset_pb2.DownloadPlanEntry:
    entry, packed = blob.entry, blob.packed
    return dataset_pb2.DownloadPlanEntry(
        member_name=blob.member_name,
        sample_name=entry.name,
        sha256=entry.sha256,
        size_bytes=entry.size_bytes,
        media_type=entry.media_type,
        url=blob.url,
        ranged=packed is not None,
        offset=packed.offset if packed else 0,
        length=packed.length if packed else 0,
        crc32=blob.crc32,
    )


def download_plan_to_proto(plan: DownloadPlan, settings: DatasetSettings) -> dataset_pb2.VersionDownloadPlan:
    return dataset_pb2.VersionDownloadPlan(
        manifest_url=plan.manifest_url,
        manifest_digest=plan.manifest_digest,
        page=common_pb2.PageResponse(next_page_token=plan.next_page_token, total_size=plan.total_entries),
        entries=[planned_blob_to_proto(blob) for blob in plan.blobs],
        expires_at_unix=plan.expires_at_unix,
        compression_level=settings.download_compression_level,
        deflate_max_ratio=settings.download_deflate_max_ratio,
        parallel_reads=settings.download_prefetch_window,
    )
