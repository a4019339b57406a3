"""The time-series sample format that the dataset service stores and the algorithms read.

One series (a monitored service's metrics, a site's load) is ONE sample whose content is a canonical
CSV, media type text/csv:

    timestamp,<value columns in upload order>[,target][,label]
    2026-01-01T00:00:00Z,41.2,0.75,0

- `timestamp`: ISO 8601 in UTC with a trailing Z, strictly increasing (oldest first);
- value columns: finite numbers (Python's shortest float text);
- `target` (forecasting): the value to forecast; the other value columns are covariates;
- `label` (anomaly detection, optional): per time step; empty, `0`, `normal`, `false`, `no` and `ok`
  mean normal, anything else (`1`, `anomaly`, a fault name) anomalous.

The dataset service writes this form from an uploaded series file (upload format FILE), whatever its
delimiter, column spelling or time format; the anomaly detection and forecasting algorithms read it,
and their demo generators write it. One module for both sides keeps the two in step.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from mlops.kernel.errors import InvalidArgument

MEDIA_TYPE = "text/csv"
TIMESTAMP = "timestamp"
TARGET = "target"
LABEL = "label"
NORMAL_LABELS = frozenset({"", "0", "normal", "false", "no", "ok"})


def is_anomalous(label: str) -> bool:
    return label.strip().lower() not in NORMAL_LABELS


def format_timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _number(value: float) -> str:
    return repr(float(value))


def write_series_csv(
    timestamps: Sequence[datetime],
    columns: Sequence[str],
    rows: Sequence[Sequence[float]],
    *,
    target: Sequence[float] | None = None,
    labels: Sequence[str] | None = None,
) -> bytes:
    """The canonical CSV of one series; `rows` holds one value per column per time step."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = [TIMESTAMP, *columns]
    header += [TARGET] if target is not None else []
    header += [LABEL] if labels is not None else []
    writer.writerow(header)
    for index, moment in enumerate(timestamps):
        row = [format_timestamp(moment), *(_number(v) for v in rows[index])]
        if target is not None:
            row.append(_number(target[index]))
        if labels is not None:
            row.append(labels[index])
        writer.writerow(row)
    return buffer.getvalue().encode()


@dataclass(frozen=True)
class SeriesTable:
    """One parsed series: the value columns (without timestamp, target and label) row by row."""

    timestamps: tuple[str, ...]
    columns: tuple[str, ...]
    rows: tuple[tuple[float, ...], ...]
    target: tuple[float, ...] | None = None
    labels: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.timestamps)

    def anomaly_flags(self) -> list[int] | None:
        """0/1 per time step from the label column, or None when the series has no labels."""
        if self.labels is None:
            return None
        return [int(is_anomalous(label)) for label in self.labels]


def read_series_csv(content: bytes, *, where: str = "series") -> SeriesTable:
    """Parses a canonical series CSV; InvalidArgument names the sample and row when it is not one."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidArgument(f"{where}: not UTF-8 text, expected a series CSV", field="dataset") from None
    reader = csv.reader(io.StringIO(text))
    names = [cell.strip() for cell in next(reader, [])]
    header = [name.lower() for name in names]
    if TIMESTAMP not in header:
        raise InvalidArgument(
            f"{where}: a series CSV starts with a header holding 'timestamp'", field="dataset"
        )
    special = {TIMESTAMP, TARGET, LABEL}
    value_at = [i for i, name in enumerate(header) if name not in special]
    stamp_at = header.index(TIMESTAMP)
    target_at = header.index(TARGET) if TARGET in header else None
    label_at = header.index(LABEL) if LABEL in header else None
    stamps: list[str] = []
    rows: list[tuple[float, ...]] = []
    target: list[float] = []
    labels: list[str] = []
    for number, cells in enumerate(reader, start=2):
        if not cells:
            continue
        if len(cells) != len(header):
            raise InvalidArgument(
                f"{where} row {number}: {len(cells)} cells for {len(header)} columns", field="dataset"
            )
        try:
            values = tuple(float(cells[i]) for i in value_at)
            if target_at is not None:
                target.append(float(cells[target_at]))
        except ValueError:
            raise InvalidArgument(f"{where} row {number}: a value is not a number", field="dataset") from None
        if not all(math.isfinite(v) for v in values) or (target and not math.isfinite(target[-1])):
            raise InvalidArgument(f"{where} row {number}: values must be finite", field="dataset")
        stamps.append(cells[stamp_at])
        rows.append(values)
        if label_at is not None:
            labels.append(cells[label_at])
    if not stamps:
        raise InvalidArgument(f"{where}: the series has no rows", field="dataset")
    return SeriesTable(
        timestamps=tuple(stamps),
        columns=tuple(names[i] for i in value_at),
        rows=tuple(rows),
        target=tuple(target) if target_at is not None else None,
        labels=tuple(labels) if label_at is not None else None,
    )
