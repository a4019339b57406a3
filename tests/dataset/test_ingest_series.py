"""A whole series in one uploaded CSV (format file): one sample in the algorithms' series format."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest

from mlops.algorithms.series import read_series_csv, write_series_csv
from mlops.kernel.errors import InvalidArgument
from services.dataset.domain import Label, Scenario
from services.dataset.ingest import (
    CsvOptions,
    IngestedSample,
    IngestLimits,
    UploadFormat,
    UploadSpec,
    collect_upload,
)

AD = Scenario.ANOMALY_DETECTION
TSF = Scenario.TIME_SERIES_FORECASTING


def series(
    text: str, scenario: Scenario = AD, limits: IngestLimits | None = None, **spec: Any
) -> IngestedSample:
    upload = UploadSpec(file_name=spec.pop("file_name", "pump-7.csv"), format=UploadFormat.FILE, **spec)
    samples = collect_upload(io.BytesIO(text.encode()), scenario=scenario, spec=upload, limits=limits)
    assert len(samples) == 1
    return samples[0]


def test_a_series_file_becomes_one_sample_in_the_canonical_series_form() -> None:
    sample = series(
        "Time;Temperature;Vibration;Label\n1767225600;55.5;0.8;\n1767226200;56;0.81;normal\n"
        "1767226800;91.25;0.79;overheating\n",
        media_type="text/csv",
        csv=CsvOptions(delimiter=";"),
    )
    assert sample.name == "pump-7.csv" and sample.media_type == "text/csv"
    assert sample.read_bytes() == (
        b"timestamp,Temperature,Vibration,label\n"
        b"2026-01-01T00:00:00Z,55.5,0.8,\n"
        b"2026-01-01T00:10:00Z,56.0,0.81,normal\n"
        b"2026-01-01T00:20:00Z,91.25,0.79,overheating\n"
    )
    assert sample.observed_at == datetime(2026, 1, 1, 0, 20, tzinfo=UTC)
    assert sample.annotation is None
    assert sample.metadata == {
        "rows": 3,
        "start": "2026-01-01T00:00:00Z",
        "end": "2026-01-01T00:20:00Z",
        "anomalous_rows": 1,
    }
    table = read_series_csv(sample.read_bytes())
    assert table.columns == ("Temperature", "Vibration")
    assert table.rows[2] == (91.25, 0.79)
    assert table.anomaly_flags() == [0, 0, 1]


def test_a_forecasting_series_keeps_its_target_and_covariates() -> None:
    sample = series("ds,temperature,target\n2026-01-01T00:00,3.5,410.2\n2026-01-01T01:00,3.0,402\n", TSF)
    table = read_series_csv(sample.read_bytes())
    assert table.target == (410.2, 402.0) and table.columns == ("temperature",) and table.labels is None
    assert "anomalous_rows" not in sample.metadata


def test_the_canonical_form_is_stable_through_a_second_upload() -> None:
    stamps = [datetime(2026, 1, 1, hour, tzinfo=UTC) for hour in range(3)]
    written = write_series_csv(stamps, ["cpu"], [[1.0], [2.5], [3.0]], labels=["0", "1", "0"])
    assert series(written.decode()).read_bytes() == written


@pytest.mark.parametrize(
    ("text", "scenario", "message"),
    [
        ("cpu,label\n1,0\n", AD, "needs a timestamp column"),
        ("timestamp,cpu\n2026-01-01T01:00,1\n2026-01-01T00:00,2\n", AD, r"row 3: time .* is not after"),
        ("timestamp,cpu\n2026-01-01,1\n2026-01-01,2\n", AD, "row 3: time"),
        ("timestamp,cpu,purpose\n2026-01-01,1,train\n", AD, "carry no purposes"),
        ("timestamp,name,cpu\n2026-01-01,a,1\n", AD, "carry no names"),
        ("timestamp,value\n2026-01-01,1\n", TSF, "needs a 'target' column"),
        ("timestamp,cpu\n2026-01-01,high\n", AD, r"row 2, column 'cpu'"),
    ],
)
def test_a_bad_series_file_is_refused_naming_the_row(text: str, scenario: Scenario, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        series(text, scenario)


def test_a_series_file_takes_no_default_annotation_and_only_csv_media_types() -> None:
    with pytest.raises(InvalidArgument, match="own label or target column") as caught:
        series("timestamp,cpu\n2026-01-01,1\n", default_annotation=Label("normal"))
    assert caught.value.field == "default_annotation"
    with pytest.raises(InvalidArgument, match="a series file is a CSV"):
        series("timestamp,cpu\n2026-01-01,1\n", media_type="image/png")


def test_a_series_file_respects_the_sample_size_limit() -> None:
    rows = "".join(f"2026-01-01T00:{m:02d},{m}\n" for m in range(60))
    with pytest.raises(InvalidArgument, match="per sample"):
        series("timestamp,cpu\n" + rows, limits=IngestLimits(max_sample_bytes=200))
