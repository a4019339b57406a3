"""CSV for tabular (anomaly detection) and time-series datasets: one row, one sample.

A row's content is the canonical JSON of its numeric feature columns; reserved columns carry the
sample's name, annotation, purpose and time. Errors name the row as a spreadsheet shows it (the
header is row 1).
"""

from __future__ import annotations

import codecs
import csv
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

from mlops.kernel.errors import InvalidArgument

from ..domain import (
    Annotation,
    Label,
    Purpose,
    Scenario,
    Target,
    canonical_json,
    check_label,
    check_sample_name,
)
from .limits import IngestLimits
from .media import JSON
from .records import IngestedSample, content_of, sample_from

TIMESTAMP_COLUMNS = ("timestamp", "time", "datetime", "date", "ds")


@dataclass(frozen=True)
class CsvOptions:
    name_columns: tuple[str, ...] = ("name", "id")
    label_column: str = "label"
    target_column: str = "target"
    purpose_column: str = "purpose"
    # Empty: the first of TIMESTAMP_COLUMNS present.
    timestamp_column: str = ""
    delimiter: str = ","


@dataclass(frozen=True)
class CsvLayout:
    columns: tuple[str, ...]
    name: int | None
    label: int | None
    target: int | None
    purpose: int | None
    timestamp: int | None
    features: tuple[int, ...]


@dataclass(frozen=True)
class CsvRecord:
    """One validated data row: where it is, its numeric features and its reserved cells."""

    row: int
    where: str
    name: str
    features: dict[str, float]
    annotation: Annotation
    purpose: Purpose | None
    observed_at: datetime | None


def read_csv(
    stream: IO[bytes],
    *,
    file_name: str,
    scenario: Scenario,
    limits: IngestLimits,
    options: CsvOptions | None = None,
) -> Iterator[IngestedSample]:
    for record in read_csv_records(
        stream, file_name=file_name, scenario=scenario, limits=limits, options=options
    ):
        yield sample_from(
            content_of(canonical_json(record.features)),
            name=record.name,
            media_type=JSON,
            source=record.where,
            annotation=record.annotation,
            purpose=record.purpose,
            observed_at=record.observed_at,
        )


def read_csv_records(
    stream: IO[bytes],
    *,
    file_name: str,
    scenario: Scenario,
    limits: IngestLimits,
    options: CsvOptions | None = None,
    layout_check: Callable[[CsvLayout], None] | None = None,
) -> Iterator[CsvRecord]:
    """Validated rows of a tabular or time-series CSV; `layout_check` may refuse the header's layout."""
    options = options or CsvOptions()
    if scenario not in (Scenario.ANOMALY_DETECTION, Scenario.TIME_SERIES_FORECASTING):
        raise InvalidArgument(f"{file_name}: CSV is for tabular and time-series datasets", field="format")
    rows = csv.reader(_lines(stream, file_name, limits), delimiter=options.delimiter, strict=True)
    try:
        header = next(rows, None)
        if not header or not any(cell.strip() for cell in header):
            raise InvalidArgument(f"{file_name}: empty CSV, expected a header row", field="file")
        layout = _layout(header, file_name, scenario, options)
        if layout_check is not None:
            layout_check(layout)
        seen: dict[str, int] = {}
        count = 0
        for cells in rows:
            row = rows.line_num
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            count += 1
            if count > limits.max_records:
                raise InvalidArgument(f"{file_name}: more than {limits.max_records} rows", field="file")
            record = _record(cells, row, count, layout, file_name)
            if record.name in seen:
                raise InvalidArgument(
                    f"{file_name} row {row}: name {record.name!r} repeats row {seen[record.name]}",
                    field="file",
                )
            seen[record.name] = row
            yield record
    except csv.Error as exc:
        raise InvalidArgument(
            f"{file_name} row {rows.line_num}: malformed CSV: {exc}", field="file"
        ) from None
    if count == 0:
        raise InvalidArgument(f"{file_name}: the header is there but no data rows", field="file")


def _lines(stream: IO[bytes], file_name: str, limits: IngestLimits) -> Iterator[str]:
    """Decoded lines, refusing over-long ones before they are held whole in memory."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    number = 0
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
            yield decoder.decode(raw)
        except UnicodeDecodeError as exc:
            raise InvalidArgument(
                f"{file_name} line {number}: not UTF-8 (byte {exc.start})", field="file"
            ) from None


def _layout(header: list[str], file_name: str, scenario: Scenario, options: CsvOptions) -> CsvLayout:
    columns = tuple(cell.strip() for cell in header)
    lowered = [c.lower() for c in columns]
    for index, column in enumerate(columns):
        if not column:
            raise InvalidArgument(f"{file_name} row 1: column {index + 1} has no name", field="file")
        if lowered.index(column.lower()) != index:
            raise InvalidArgument(f"{file_name} row 1: column {column!r} appears twice", field="file")
    if all(_is_number(c) for c in columns):
        raise InvalidArgument(f"{file_name} row 1: expected a header row, found only numbers", field="file")

    def find(*names: str) -> int | None:
        for name in names:
            if name and name.lower() in lowered:
                return lowered.index(name.lower())
        return None

    stamp_names = (options.timestamp_column,) if options.timestamp_column else TIMESTAMP_COLUMNS
    layout = CsvLayout(
        columns=columns,
        name=find(*options.name_columns),
        label=find(options.label_column),
        target=find(options.target_column),
        purpose=find(options.purpose_column),
        timestamp=find(*stamp_names),
        features=(),
    )
    reserved = {layout.name, layout.label, layout.target, layout.purpose, layout.timestamp}
    features = tuple(i for i in range(len(columns)) if i not in reserved)
    if scenario is Scenario.TIME_SERIES_FORECASTING:
        if layout.timestamp is None:
            raise InvalidArgument(
                f"{file_name} row 1: a time series needs a timestamp column ({' or '.join(stamp_names)})",
                field="file",
            )
        if layout.target is None:
            raise InvalidArgument(
                f"{file_name} row 1: a time series needs a {options.target_column!r} column", field="file"
            )
        if layout.label is not None:
            raise InvalidArgument(f"{file_name} row 1: a time series takes targets, not labels", field="file")
    else:
        if layout.target is not None:
            raise InvalidArgument(
                f"{file_name} row 1: anomaly detection takes labels, not targets", field="file"
            )
        if not features:
            raise InvalidArgument(
                f"{file_name} row 1: no feature columns besides the reserved ones", field="file"
            )
    return CsvLayout(**{**layout.__dict__, "features": features})


def _record(cells: list[str], row: int, index: int, layout: CsvLayout, file_name: str) -> CsvRecord:
    where = f"{file_name} row {row}"
    if len(cells) != len(layout.columns):
        raise InvalidArgument(
            f"{where}: {len(cells)} cells, the header has {len(layout.columns)}", field="file"
        )
    features = {layout.columns[i]: _number(cells[i], layout.columns[i], where) for i in layout.features}
    name = cells[layout.name].strip() if layout.name is not None else ""
    name = check_sample_name(name or f"{file_name}/row-{index:07d}", field=where)
    annotation: Annotation = None
    if layout.label is not None and cells[layout.label].strip():
        annotation = Label(check_label(cells[layout.label], field=where))
    if layout.target is not None:
        annotation = Target(_number(cells[layout.target], layout.columns[layout.target], where))
    purpose = None
    if layout.purpose is not None and cells[layout.purpose].strip():
        purpose = Purpose.parse(
            cells[layout.purpose], field=f"{where}, column {layout.columns[layout.purpose]!r}"
        )
    observed_at = None
    if layout.timestamp is not None:
        observed_at = parse_timestamp(
            cells[layout.timestamp], where=f"{where}, column {layout.columns[layout.timestamp]!r}"
        )
    return CsvRecord(row, where, name, features, annotation, purpose, observed_at)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(text: str, column: str, where: str) -> float:
    stripped = text.strip()
    if not stripped:
        raise InvalidArgument(f"{where}, column {column!r}: empty; fill or drop missing values", field="file")
    try:
        value = float(stripped)
    except ValueError:
        raise InvalidArgument(
            f"{where}, column {column!r}: {stripped[:40]!r} is not a number", field="file"
        ) from None
    if not math.isfinite(value):
        raise InvalidArgument(
            f"{where}, column {column!r}: {stripped!r} is not a finite number", field="file"
        )
    return value


def parse_timestamp(text: str, *, where: str) -> datetime:
    """ISO 8601 (a missing zone means UTC) or Unix seconds."""
    stripped = text.strip()
    if not stripped:
        raise InvalidArgument(f"{where}: empty timestamp", field="file")
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        try:
            seconds = float(stripped)
        except ValueError:
            raise InvalidArgument(
                f"{where}: {stripped[:40]!r} is not an ISO 8601 time or Unix seconds", field="file"
            ) from None
        if not math.isfinite(seconds) or not -1e11 < seconds < 1e11:
            raise InvalidArgument(
                f"{where}: {stripped!r} is out of range for Unix seconds", field="file"
            ) from None
        return datetime.fromtimestamp(seconds, UTC)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
