"""One entry point from an uploaded file to validated samples, whatever the scenario and format.

Two ways to keep an upload all-or-nothing, both supported:
- validate first: `validate_upload` reads the whole file and keeps nothing; then `read_upload`
  reads it again and the caller stores what comes out;
- stage: iterate `read_upload`, staging what comes out (blobs are content-addressed, so staged
  blobs of a refused upload are garbage the collector removes) and commit rows only when the
  iterator ends without an error. Every sample yielded is already valid.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import IO, Any

from mlops.kernel.errors import InvalidArgument

from ..domain import Annotation, Purpose, Scenario, canonical_json, check_annotation
from .coco import read_coco_archive
from .images import read_image_file, read_image_folder
from .limits import IngestLimits
from .media import TEXT, normalise_media_type
from .names import safe_relative_path
from .records import IngestedSample, capture, chunks_of, sample_from
from .series import SERIES_SCENARIOS, read_series_file
from .tabular import CsvOptions, read_csv
from .text import read_jsonl, read_log_lines


class UploadFormat(StrEnum):
    """mlops.dataset.v1.UploadFormat without its prefix."""

    FILE = "file"
    CSV = "csv"
    JSONL = "jsonl"
    LOG_LINES = "log_lines"
    IMAGE_ARCHIVE = "image_archive"
    COCO_JSON = "coco_json"


FORMATS_BY_SCENARIO: dict[Scenario, tuple[UploadFormat, ...]] = {
    # CSV: a sample per row; FILE: the whole file is one series, the form the algorithms train on.
    Scenario.ANOMALY_DETECTION: (UploadFormat.CSV, UploadFormat.FILE),
    Scenario.TIME_SERIES_FORECASTING: (UploadFormat.CSV, UploadFormat.FILE),
    Scenario.LOG_CLUSTERING: (UploadFormat.LOG_LINES, UploadFormat.JSONL, UploadFormat.FILE),
    Scenario.TEXT_CLASSIFICATION: (UploadFormat.JSONL, UploadFormat.FILE),
    Scenario.IMAGE_CLASSIFICATION: (UploadFormat.IMAGE_ARCHIVE, UploadFormat.FILE),
    Scenario.OBJECT_DETECTION: (UploadFormat.COCO_JSON, UploadFormat.IMAGE_ARCHIVE, UploadFormat.FILE),
}


_ARCHIVE_TYPES = (
    "application/zip",
    "application/x-zip-compressed",
    "application/x-tar",
    "application/x-gtar",
    "application/gzip",
    "application/x-gzip",
    "application/x-compressed-tar",
    "application/x-bzip2",
    "application/x-xz",
)
# What a client may declare for each format, the usual type first (FILE uploads are checked by their
# readers against the content itself). Generic types say nothing, so they never contradict.
_MEDIA_TYPES_BY_FORMAT: dict[UploadFormat, tuple[str, ...]] = {
    # Spreadsheet software on Windows declares CSV files as Excel ones.
    UploadFormat.CSV: (
        "text/csv",
        "application/csv",
        "text/tab-separated-values",
        "text/plain",
        "application/vnd.ms-excel",
    ),
    UploadFormat.JSONL: (
        "application/jsonl",
        "application/x-jsonlines",
        "application/jsonlines",
        "application/x-ndjson",
        "application/ndjson",
        "application/json",
        "text/plain",
    ),
    UploadFormat.LOG_LINES: ("text/plain", "text/x-log"),
    UploadFormat.IMAGE_ARCHIVE: _ARCHIVE_TYPES,
    # An archive of the annotations file and its images, or the bare annotations file.
    UploadFormat.COCO_JSON: (*_ARCHIVE_TYPES, "application/json"),
}
_GENERIC_MEDIA_TYPES = ("", "application/octet-stream", "binary/octet-stream")


@dataclass(frozen=True)
class UploadSpec:
    """What the upload's header says (mlops.dataset.v1.UploadHeader)."""

    file_name: str
    format: UploadFormat
    media_type: str = ""
    # Applied to every sample unless the file says otherwise.
    default_purpose: Purpose | None = None
    default_annotation: Annotation = None
    metadata: dict[str, Any] = field(default_factory=dict)
    csv: CsvOptions = field(default_factory=CsvOptions)


@dataclass(frozen=True)
class UploadSummary:
    samples: int
    content_bytes: int
    counts_per_purpose: dict[str, int]


def read_upload(
    stream: IO[bytes], *, scenario: Scenario, spec: UploadSpec, limits: IngestLimits | None = None
) -> Iterator[IngestedSample]:
    """Validated samples from a seekable binary file (an upload spooled to disk).

    Raises InvalidArgument (naming the file and row/line/member) before yielding anything invalid.
    Samples with large content hold a temporary file: close them once stored.
    """
    limits = limits or IngestLimits()
    file_name = check_header(spec, scenario)
    check_upload_size(stream, file_name=file_name, limits=limits)
    for sample in _samples(stream, scenario, spec, file_name, limits):
        if sample.annotation is None:
            sample.annotation = spec.default_annotation
        sample.purpose = sample.purpose or spec.default_purpose
        if spec.metadata:
            sample.metadata = {**spec.metadata, **sample.metadata}
        try:
            check_annotation(scenario, sample.annotation, field=sample.source, metadata=sample.metadata)
        except BaseException:
            sample.close()
            raise
        yield sample


def collect_upload(
    stream: IO[bytes], *, scenario: Scenario, spec: UploadSpec, limits: IngestLimits | None = None
) -> list[IngestedSample]:
    """Every sample of a valid upload, or the error with nothing left open (large contents stay on
    disk, so this suits any upload whose sample rows fit in memory)."""
    samples: list[IngestedSample] = []
    try:
        samples.extend(read_upload(stream, scenario=scenario, spec=spec, limits=limits))
    except BaseException:
        close_all(samples)
        raise
    return samples


def close_all(samples: Iterable[IngestedSample]) -> None:
    for sample in samples:
        sample.close()


def validate_upload(
    stream: IO[bytes], *, scenario: Scenario, spec: UploadSpec, limits: IngestLimits | None = None
) -> UploadSummary:
    """Reads the whole upload and keeps nothing; rewinds the file for `read_upload`."""
    count = 0
    size = 0
    purposes = {p.value: 0 for p in Purpose}
    for sample in read_upload(stream, scenario=scenario, spec=spec, limits=limits):
        count += 1
        size += sample.size_bytes
        purposes[(sample.purpose or Purpose.TRAINING).value] += 1
        sample.close()
    stream.seek(0)
    return UploadSummary(count, size, purposes)


def check_header(spec: UploadSpec, scenario: Scenario) -> str:
    """The file's name, made safe, once the header fits the dataset's scenario."""
    file_name = safe_relative_path(spec.file_name, field="file_name")
    if spec.format not in FORMATS_BY_SCENARIO[scenario]:
        allowed = ", ".join(f.value for f in FORMATS_BY_SCENARIO[scenario])
        raise InvalidArgument(
            f"{file_name}: a {scenario.value} dataset takes {allowed} uploads, not {spec.format.value}",
            field="format",
        )
    _check_declared_type(spec, file_name)
    check_annotation(scenario, spec.default_annotation, field="default_annotation")
    _check_metadata(spec.metadata)
    return file_name


def check_upload_size(stream: IO[bytes], *, file_name: str, limits: IngestLimits) -> int:
    """The file's size; refuses empty and oversize files before reading them."""
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    if size == 0:
        raise InvalidArgument(f"{file_name}: the file is empty", field="file")
    if size > limits.max_upload_bytes:
        raise InvalidArgument(
            f"{file_name}: {size} bytes, more than the upload limit of {limits.max_upload_bytes}",
            field="file",
        )
    return size


def _samples(
    stream: IO[bytes], scenario: Scenario, spec: UploadSpec, file_name: str, limits: IngestLimits
) -> Iterator[IngestedSample]:
    match spec.format:
        case UploadFormat.CSV:
            return read_csv(stream, file_name=file_name, scenario=scenario, limits=limits, options=spec.csv)
        case UploadFormat.JSONL:
            return read_jsonl(stream, file_name=file_name, limits=limits)
        case UploadFormat.LOG_LINES:
            return read_log_lines(stream, file_name=file_name, limits=limits)
        case UploadFormat.IMAGE_ARCHIVE:
            labelled = scenario is Scenario.IMAGE_CLASSIFICATION
            return read_image_folder(stream, file_name=file_name, limits=limits, labelled=labelled)
        case UploadFormat.COCO_JSON:
            return read_coco_archive(stream, file_name=file_name, limits=limits)
        case UploadFormat.FILE if scenario in (Scenario.IMAGE_CLASSIFICATION, Scenario.OBJECT_DETECTION):
            return read_image_file(stream, file_name=file_name, media_type=spec.media_type, limits=limits)
        case UploadFormat.FILE if scenario in SERIES_SCENARIOS:
            if spec.default_annotation is not None:
                raise InvalidArgument(
                    f"{file_name}: a series file is annotated by its own label or target column",
                    field="default_annotation",
                )
            return iter(
                [
                    read_series_file(
                        stream,
                        file_name=file_name,
                        scenario=scenario,
                        media_type=spec.media_type,
                        limits=limits,
                        options=spec.csv,
                    )
                ]
            )
        case UploadFormat.FILE:
            return _read_text_file(stream, file_name, spec.media_type, limits)
    raise InvalidArgument(f"{file_name}: unknown upload format {spec.format!r}", field="format")


def _read_text_file(
    stream: IO[bytes], file_name: str, media_type: str, limits: IngestLimits
) -> Iterator[IngestedSample]:
    if media_type and not media_type.startswith("text/"):
        raise InvalidArgument(
            f"{file_name}: declared as {media_type}, expected a text file", field="media_type"
        )
    content = capture(_utf8_checked(chunks_of(stream), file_name), source=file_name, limits=limits)
    yield sample_from(content, name=file_name, media_type=TEXT, source=file_name)


def _utf8_checked(chunks: Iterable[bytes], source: str) -> Iterator[bytes]:
    """Passes chunks through, refusing binary or non-UTF-8 content without holding the whole file."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    for chunk in chunks:
        if b"\x00" in chunk:
            raise InvalidArgument(f"{source}: binary content (NUL bytes), expected text", field="file")
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            raise InvalidArgument(
                f"{source}: not UTF-8 text (byte {offset + exc.start})", field="file"
            ) from None
        offset += len(chunk)
        yield chunk
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise InvalidArgument(
            f"{source}: not UTF-8 text (truncated character at the end)", field="file"
        ) from None


def _check_declared_type(spec: UploadSpec, file_name: str) -> None:
    """A header's media type that names other content than the format's refuses the file."""
    usual = _MEDIA_TYPES_BY_FORMAT.get(spec.format)
    declared = normalise_media_type(spec.media_type)
    if usual is None or declared in _GENERIC_MEDIA_TYPES or declared in usual:
        return
    raise InvalidArgument(
        f"{file_name}: declared as {spec.media_type}, but {spec.format.value} uploads are {usual[0]}",
        field="media_type",
    )


def _check_metadata(metadata: dict[str, Any]) -> None:
    try:
        canonical_json(metadata)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"metadata must be plain JSON without NaN: {exc}", field="metadata") from None
