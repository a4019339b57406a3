"""A whole time series in one uploaded CSV file: one sample, stored in the algorithms' series format.

Rows are validated as the row-per-sample CSV reader validates them (same messages, same options);
the sample's content is then the canonical series CSV of `mlops.algorithms.series`, so the anomaly
detection and forecasting algorithms read every upload alike, whatever its delimiter, column spelling
or time format. The sample is dated by its last time step, so a chronological split puts the series
that end latest into testing.
"""

from __future__ import annotations

from datetime import datetime
from typing import IO

from mlops.algorithms.series import MEDIA_TYPE, format_timestamp, is_anomalous, write_series_csv
from mlops.kernel.errors import InvalidArgument

from ..domain import Label, Scenario, Target, check_sample_name
from .limits import IngestLimits
from .records import IngestedSample, capture, sample_from
from .tabular import CsvLayout, CsvOptions, read_csv_records

SERIES_SCENARIOS = (Scenario.ANOMALY_DETECTION, Scenario.TIME_SERIES_FORECASTING)
_SERIES_MEDIA_TYPES = ("", "text/csv", "text/plain", "application/csv")


def read_series_file(
    stream: IO[bytes],
    *,
    file_name: str,
    scenario: Scenario,
    media_type: str,
    limits: IngestLimits,
    options: CsvOptions | None = None,
) -> IngestedSample:
    """The one sample of a series CSV: a timestamp column, strictly increasing, and numeric columns;
    for forecasting a target column, for anomaly detection an optional label column per row."""
    if media_type.split(";")[0].strip().lower() not in _SERIES_MEDIA_TYPES:
        raise InvalidArgument(
            f"{file_name}: declared as {media_type}, a series file is a CSV (text/csv)", field="media_type"
        )

    def check(layout: CsvLayout) -> None:
        if layout.timestamp is None:
            raise InvalidArgument(f"{file_name} row 1: a series file needs a timestamp column", field="file")
        for column, what in ((layout.name, "names"), (layout.purpose, "purposes")):
            if column is not None:
                raise InvalidArgument(
                    f"{file_name} row 1: column {layout.columns[column]!r}: a series file is one sample, "
                    f"so its rows carry no {what}; upload with format csv for a sample per row",
                    field="file",
                )

    stamps: list[datetime] = []
    rows: list[list[float]] = []
    targets: list[float] = []
    labels: list[str] = []
    columns: tuple[str, ...] = ()
    for record in read_csv_records(
        stream, file_name=file_name, scenario=scenario, limits=limits, options=options, layout_check=check
    ):
        assert record.observed_at is not None
        if stamps and record.observed_at <= stamps[-1]:
            raise InvalidArgument(
                f"{record.where}: time {format_timestamp(record.observed_at)} is not after the row before; "
                "a series is sorted oldest first without repeated times",
                field="file",
            )
        stamps.append(record.observed_at)
        columns = tuple(record.features)
        rows.append(list(record.features.values()))
        if isinstance(record.annotation, Target):
            targets.append(record.annotation.value)
        labels.append(record.annotation.name if isinstance(record.annotation, Label) else "")
    forecasting = scenario is Scenario.TIME_SERIES_FORECASTING
    labelled = not forecasting and any(labels)
    data = write_series_csv(
        stamps, columns, rows, target=targets if forecasting else None, labels=labels if labelled else None
    )
    content = capture([data], source=file_name, limits=limits)
    metadata: dict[str, object] = {
        "rows": len(stamps),
        "start": format_timestamp(stamps[0]),
        "end": format_timestamp(stamps[-1]),
    }
    if labelled:
        metadata["anomalous_rows"] = sum(is_anomalous(label) for label in labels)
    return sample_from(
        content,
        name=check_sample_name(file_name, field="file_name"),
        media_type=MEDIA_TYPE,
        source=file_name,
        metadata=metadata,
        observed_at=stamps[-1],
    )
