"""CSV, JSONL and log-line readers: row-numbered errors and what a valid row becomes."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from mlops.kernel.errors import InvalidArgument
from services.dataset.domain import Label, Purpose, Scenario, Target
from services.dataset.ingest import IngestedSample, IngestLimits, UploadFormat, UploadSpec, collect_upload

LIMITS = IngestLimits()


def read(
    text: str | bytes, scenario: Scenario, fmt: UploadFormat, limits: IngestLimits = LIMITS, **spec: Any
) -> list[IngestedSample]:
    data = text.encode() if isinstance(text, str) else text
    file_name = {UploadFormat.CSV: "data.csv", UploadFormat.JSONL: "data.jsonl"}.get(fmt, "app.log")
    upload = UploadSpec(file_name=file_name, format=fmt, **spec)
    return collect_upload(io.BytesIO(data), scenario=scenario, spec=upload, limits=limits)


def csv_rows(text: str, scenario: Scenario = Scenario.ANOMALY_DETECTION, **spec: Any) -> list[IngestedSample]:
    return read(text, scenario, UploadFormat.CSV, **spec)


def test_csv_rows_become_samples_with_labels_purposes_and_times() -> None:
    samples = csv_rows(
        "timestamp,temp,vibration,label,purpose\n"
        "2026-01-01T00:00:00Z,50.5,0.8,normal,train\n"
        "2026-01-01T00:10:00,99,3.1,anomaly,\n"
    )
    first, second = samples
    assert first.name == "data.csv/row-0000001" and first.source == "data.csv row 2"
    assert first.annotation == Label("normal") and first.purpose is Purpose.TRAINING
    assert json.loads(first.read_bytes()) == {"temp": 50.5, "vibration": 0.8}
    assert first.media_type == "application/json"
    assert second.observed_at == datetime(2026, 1, 1, 0, 10, tzinfo=UTC), "a zoneless time is UTC"
    assert second.purpose is None, "an empty purpose cell leaves the upload's default"


def test_csv_names_come_from_a_name_column_and_must_be_unique() -> None:
    samples = csv_rows("id,x\npump-1,1\npump-2,2\n")
    assert [s.name for s in samples] == ["pump-1", "pump-2"]
    with pytest.raises(InvalidArgument, match="row 3: name 'p' repeats row 2"):
        csv_rows("name,x\np,1\np,2\n")


def test_time_series_rows_carry_targets_and_need_a_timestamp() -> None:
    samples = csv_rows("ds,temperature,target\n1767225600,3.5,410.2\n", Scenario.TIME_SERIES_FORECASTING)
    assert samples[0].annotation == Target(410.2)
    assert samples[0].observed_at == datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidArgument, match="needs a timestamp column"):
        csv_rows("temperature,target\n3.5,410.2\n", Scenario.TIME_SERIES_FORECASTING)
    with pytest.raises(InvalidArgument, match="needs a 'target' column"):
        csv_rows("timestamp,temperature\n2026-01-01,3.5\n", Scenario.TIME_SERIES_FORECASTING)
    with pytest.raises(InvalidArgument, match=r"row 3, column 'timestamp': 'yesterday' is not an ISO 8601"):
        csv_rows("timestamp,target\n2026-01-01,1\nyesterday,2\n", Scenario.TIME_SERIES_FORECASTING)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"the file is empty"),
        ("x,label\n", r"no data rows"),
        ("1.0,2.0\n3,4\n", r"row 1: expected a header row"),
        ("x,x\n1,2\n", r"row 1: column 'x' appears twice"),
        ("x,,y\n1,2,3\n", r"row 1: column 2 has no name"),
        ("x,y\n1,2\n3\n", r"row 3: 1 cells, the header has 2"),
        ("x,y\n1,2\n3,abc\n", r"row 3, column 'y': 'abc' is not a number"),
        ("x,y\n1,\n", r"row 2, column 'y': empty"),
        ("x,y\n1,inf\n", r"not a finite number"),
        ('x,y\n1,"2\n', r"malformed CSV"),
        ("x,y\n1,2\n\xff\xfe,3\n".encode("latin-1").decode("latin-1"), r"line 3: not UTF-8"),
        ("label,purpose\ncat,train\n", r"no feature columns"),
        ("x,target\n1,2\n", r"anomaly detection takes labels"),
    ],
)
def test_malformed_csv_is_refused_naming_the_row(text: str, message: str) -> None:
    data = text.encode("latin-1") if "\xff" in text else text.encode()
    with pytest.raises(InvalidArgument, match=message):
        read(data, Scenario.ANOMALY_DETECTION, UploadFormat.CSV)


def test_unknown_purpose_values_are_refused_with_their_row() -> None:
    with pytest.raises(InvalidArgument, match="unknown purpose 'holdout'") as caught:
        csv_rows("x,purpose\n1,train\n2,holdout\n")
    assert "row 3" in str(caught.value)


def test_csv_limits_rows_and_line_length() -> None:
    with pytest.raises(InvalidArgument, match="more than 2 rows"):
        read("x\n1\n2\n3\n", Scenario.ANOMALY_DETECTION, UploadFormat.CSV, IngestLimits(max_records=2))
    with pytest.raises(InvalidArgument, match="line 2: longer than 16 bytes"):
        read(
            "x\n" + "1" * 40 + "\n",
            Scenario.ANOMALY_DETECTION,
            UploadFormat.CSV,
            IngestLimits(max_record_bytes=16),
        )


def jsonl(*records: object) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


def test_jsonl_records_become_text_samples() -> None:
    samples = read(
        jsonl(
            {"text": "refund please", "label": "billing", "purpose": "test", "id": "t-1", "channel": "email"},
            "",
            {"text": "app crashes", "metadata": {"lang": "en"}},
        ),
        Scenario.TEXT_CLASSIFICATION,
        UploadFormat.JSONL,
        default_purpose=Purpose.VALIDATION,
    )
    first, second = samples
    assert (first.name, first.read_bytes(), first.annotation) == ("t-1", b"refund please", Label("billing"))
    assert first.purpose is Purpose.TESTING and first.metadata == {"channel": "email"}
    assert second.name == "data.jsonl/line-0000003" and second.annotation is None
    assert second.purpose is Purpose.VALIDATION and second.metadata == {"lang": "en"}
    assert first.media_type.startswith("text/plain")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (jsonl({"text": "ok"}, "{not json"), r"line 2: malformed JSON"),
        (jsonl({"text": "ok"}, "[1, 2]"), r"line 2: expected a JSON object"),
        (jsonl({"label": "x"}), r"line 1: needs a non-empty string field 'text'"),
        (jsonl({"text": "ok", "label": ["x"]}), r"'label' must be a string"),
        (jsonl({"text": "ok", "purpose": "later"}), r"unknown purpose 'later'"),
        (jsonl({"text": "ok", "score": float("nan")}), r"malformed JSON: NaN is not valid JSON"),
        (jsonl({"text": "a", "id": "x"}, {"text": "b", "id": "x"}), r"line 2: name 'x' repeats line 1"),
        ("\n\n", r"no records"),
    ],
)
def test_malformed_jsonl_is_refused_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        read(text, Scenario.TEXT_CLASSIFICATION, UploadFormat.JSONL)


def test_log_lines_become_samples_dated_by_their_leading_time() -> None:
    samples = read(
        "2026-03-01T10:00:00Z web-1 sshd: Accepted\n\n[2026-03-01 10:00:05,120] kernel: oom\nno time here\n",
        Scenario.LOG_CLUSTERING,
        UploadFormat.LOG_LINES,
    )
    assert [s.name for s in samples] == [
        "app.log/line-0000001",
        "app.log/line-0000003",
        "app.log/line-0000004",
    ]
    assert samples[0].observed_at == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert samples[1].observed_at == datetime(2026, 3, 1, 10, 0, 5, 120000, tzinfo=UTC)
    assert samples[2].observed_at is None and samples[2].read_bytes() == b"no time here"


def test_binary_log_files_are_refused() -> None:
    with pytest.raises(InvalidArgument, match=r"line 2: binary content"):
        read(b"ok\n\x00\x01\x02\n", Scenario.LOG_CLUSTERING, UploadFormat.LOG_LINES)
    with pytest.raises(InvalidArgument, match=r"line 1: not UTF-8"):
        read(b"\xff\xfe\xfa\n", Scenario.LOG_CLUSTERING, UploadFormat.LOG_LINES)
