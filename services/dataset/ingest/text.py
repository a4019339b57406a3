"""Text records: JSONL for text classification, raw log lines for log clustering."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from mlops.kernel.errors import InvalidArgument

from ..domain import Annotation, Label, Purpose, check_label, check_sample_name
from .limits import IngestLimits
from .media import TEXT
from .records import IngestedSample, content_of, sample_from
from .tabular import parse_timestamp

_RESERVED = {"text", "label", "purpose", "name", "id", "metadata", "timestamp"}
# A leading ISO-like time, as most log formats write it.
_LOG_TIME = re.compile(
    r"^\[?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?)\]?(?:\s|$)"
)


def read_lines(stream: IO[bytes], *, file_name: str, limits: IngestLimits) -> Iterator[tuple[int, str]]:
    """(line number, text) for each non-blank line, refusing binary, non-UTF-8 and over-long lines."""
    number = 0
    kept = 0
    while True:
        raw = stream.readline(limits.max_record_bytes + 1)
        if not raw:
            break
        number += 1
        if len(raw) > limits.max_record_bytes:
            raise InvalidArgument(
                f"{file_name} line {number}: longer than {limits.max_record_bytes} bytes", field="file"
            )
        if b"\x00" in raw:
            raise InvalidArgument(f"{file_name} line {number}: binary content (NUL byte)", field="file")
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            raise InvalidArgument(
                f"{file_name} line {number}: not UTF-8 (byte {exc.start})", field="file"
            ) from None
        if not text.strip():
            continue
        kept += 1
        if kept > limits.max_records:
            raise InvalidArgument(f"{file_name}: more than {limits.max_records} records", field="file")
        yield number, text
    if kept == 0:
        raise InvalidArgument(f"{file_name}: no records (the file is empty or blank)", field="file")


def read_jsonl(stream: IO[bytes], *, file_name: str, limits: IngestLimits) -> Iterator[IngestedSample]:
    """One JSON object per line: `text` required; `label`, `purpose`, `name`/`id`, `timestamp` and
    `metadata` optional; other keys become metadata."""
    names: dict[str, int] = {}
    for number, line in read_lines(stream, file_name=file_name, limits=limits):
        where = f"{file_name} line {number}"
        record = _json_object(line, where)
        text = record.get("text")
        if not isinstance(text, str) or not text.strip():
            raise InvalidArgument(f"{where}: needs a non-empty string field 'text'", field="file")
        name = _optional_string(record, "name", where) or _optional_string(record, "id", where)
        name = check_sample_name(name or f"{file_name}/line-{number:07d}", field=where)
        if name in names:
            raise InvalidArgument(f"{where}: name {name!r} repeats line {names[name]}", field="file")
        names[name] = number
        label = _optional_string(record, "label", where)
        annotation: Annotation = Label(check_label(label, field=where)) if label else None
        purpose_text = _optional_string(record, "purpose", where)
        purpose = Purpose.parse(purpose_text, field=f"{where}, 'purpose'") if purpose_text else None
        stamp = _optional_string(record, "timestamp", where)
        metadata = _metadata(record, where)
        yield sample_from(
            content_of(text.encode()),
            name=name,
            media_type=TEXT,
            source=where,
            annotation=annotation,
            purpose=purpose,
            metadata=metadata,
            observed_at=parse_timestamp(stamp, where=f"{where}, 'timestamp'") if stamp else None,
        )


def read_log_lines(stream: IO[bytes], *, file_name: str, limits: IngestLimits) -> Iterator[IngestedSample]:
    """Each non-blank line is a sample; a leading timestamp, when there is one, dates it."""
    for number, line in read_lines(stream, file_name=file_name, limits=limits):
        where = f"{file_name} line {number}"
        yield sample_from(
            content_of(line.encode()),
            name=f"{file_name}/line-{number:07d}",
            media_type=TEXT,
            source=where,
            observed_at=log_time(line),
        )


def log_time(line: str) -> datetime | None:
    match = _LOG_TIME.match(line)
    if match is None:
        return None
    try:
        return parse_timestamp(match.group(1).replace(",", "."), where="")
    except InvalidArgument:
        return None


def _refuse_constant(value: str) -> Any:
    raise ValueError(f"{value} is not valid JSON")


def _json_object(line: str, where: str) -> dict[str, Any]:
    try:
        record = json.loads(line, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise InvalidArgument(f"{where}: malformed JSON: {exc}", field="file") from None
    if not isinstance(record, dict):
        raise InvalidArgument(f"{where}: expected a JSON object, found {type(record).__name__}", field="file")
    return record


def _optional_string(record: dict[str, Any], key: str, where: str) -> str:
    value = record.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidArgument(
            f"{where}: {key!r} must be a string, found {type(value).__name__}", field="file"
        )
    return str(value).strip()


def _metadata(record: dict[str, Any], where: str) -> dict[str, Any]:
    metadata = record.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise InvalidArgument(f"{where}: 'metadata' must be an object", field="file")
    extra = {k: v for k, v in record.items() if k not in _RESERVED}
    return {**extra, **metadata}
