"""The upload entry point: formats per scenario, declared types, defaults and text files."""

from __future__ import annotations

import io
import json

import pytest

from mlops.kernel.errors import InvalidArgument
from services.dataset.domain import BoundingBox, Boxes, Label, Purpose, Scenario, Target
from services.dataset.ingest import (
    FORMATS_BY_SCENARIO,
    IngestLimits,
    UploadFormat,
    UploadSpec,
    collect_upload,
)

from .builders import png, zip_bytes


def read(data: bytes, scenario: Scenario, spec: UploadSpec, limits: IngestLimits | None = None) -> list:  # type: ignore[type-arg]
    return collect_upload(io.BytesIO(data), scenario=scenario, spec=spec, limits=limits)


@pytest.mark.parametrize(
    ("scenario", "fmt"),
    [
        (Scenario.ANOMALY_DETECTION, UploadFormat.JSONL),
        (Scenario.TIME_SERIES_FORECASTING, UploadFormat.IMAGE_ARCHIVE),
        (Scenario.TEXT_CLASSIFICATION, UploadFormat.IMAGE_ARCHIVE),
        (Scenario.IMAGE_CLASSIFICATION, UploadFormat.CSV),
        (Scenario.LOG_CLUSTERING, UploadFormat.COCO_JSON),
    ],
)
def test_a_format_that_does_not_fit_the_scenario_is_refused(scenario: Scenario, fmt: UploadFormat) -> None:
    assert fmt not in FORMATS_BY_SCENARIO[scenario]
    with pytest.raises(InvalidArgument, match=f"{scenario.value} dataset takes") as caught:
        read(b"x", scenario, UploadSpec(file_name="f", format=fmt))
    assert caught.value.field == "format"


def test_upload_defaults_apply_where_the_file_is_silent() -> None:
    spec = UploadSpec(
        file_name="d.csv",
        format=UploadFormat.CSV,
        default_purpose=Purpose.VALIDATION,
        default_annotation=Label("normal"),
        metadata={"site": "plant-4", "x": "overridden?"},
    )
    samples = read(b"x,label,purpose\n1,,\n2,anomaly,test\n", Scenario.ANOMALY_DETECTION, spec)
    assert [(s.annotation, s.purpose) for s in samples] == [
        (Label("normal"), Purpose.VALIDATION),
        (Label("anomaly"), Purpose.TESTING),
    ]
    assert samples[0].metadata == {"site": "plant-4", "x": "overridden?"}
    assert samples[0].to_sample().purpose is Purpose.VALIDATION


def test_bad_upload_defaults_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="label annotation") as caught:
        read(
            b"x\n1\n",
            Scenario.ANOMALY_DETECTION,
            UploadSpec("d.csv", UploadFormat.CSV, default_annotation=Target(1)),
        )
    assert caught.value.field == "default_annotation"
    with pytest.raises(InvalidArgument, match="without NaN"):
        read(
            b"x\n1\n",
            Scenario.ANOMALY_DETECTION,
            UploadSpec("d.csv", UploadFormat.CSV, metadata={"a": float("nan")}),
        )


def test_a_text_file_is_one_sample_and_must_be_text() -> None:
    spec = UploadSpec(
        "notes/ticket.txt", UploadFormat.FILE, media_type="text/plain", default_annotation=Label("billing")
    )
    (sample,) = read("Refund, s'il vous plaît".encode(), Scenario.TEXT_CLASSIFICATION, spec)
    assert sample.name == "notes/ticket.txt" and sample.annotation == Label("billing")
    with pytest.raises(InvalidArgument, match="binary content"):
        read(png(), Scenario.TEXT_CLASSIFICATION, spec)
    with pytest.raises(InvalidArgument, match="not UTF-8 text"):
        read(b"caf\xe9", Scenario.TEXT_CLASSIFICATION, spec)
    with pytest.raises(InvalidArgument, match="expected a text file"):
        read(
            b"hello",
            Scenario.TEXT_CLASSIFICATION,
            UploadSpec("t.txt", UploadFormat.FILE, media_type="image/png"),
        )
    with pytest.raises(InvalidArgument, match="limit of 4 bytes per sample"):
        read(b"hello", Scenario.LOG_CLUSTERING, spec, IngestLimits(max_sample_bytes=4))


CSV_ROWS = b"x,label\n1,normal\n"
COCO = {
    "images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 6}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [0, 0, 8, 6]}],
    "categories": [{"id": 7, "name": "cat"}],
}
# (scenario, format, a valid file of it)
VALID: dict[UploadFormat, tuple[Scenario, bytes]] = {
    UploadFormat.CSV: (Scenario.ANOMALY_DETECTION, CSV_ROWS),
    UploadFormat.JSONL: (Scenario.TEXT_CLASSIFICATION, b'{"text": "a", "label": "x"}\n'),
    UploadFormat.LOG_LINES: (Scenario.LOG_CLUSTERING, b"GET /index.html 200\n"),
    UploadFormat.IMAGE_ARCHIVE: (Scenario.IMAGE_CLASSIFICATION, zip_bytes({"cat/a.png": png()}).getvalue()),
    UploadFormat.COCO_JSON: (
        Scenario.OBJECT_DETECTION,
        zip_bytes({"annotations.json": json.dumps(COCO).encode(), "images/a.png": png()}).getvalue(),
    ),
}


@pytest.mark.parametrize(
    ("fmt", "declared"),
    [
        (UploadFormat.CSV, "image/png"),
        (UploadFormat.CSV, "application/zip"),
        (UploadFormat.JSONL, "text/csv"),
        (UploadFormat.LOG_LINES, "application/pdf"),
        (UploadFormat.IMAGE_ARCHIVE, "image/png"),
        (UploadFormat.IMAGE_ARCHIVE, "text/csv"),
        (UploadFormat.COCO_JSON, "image/jpeg"),
    ],
)
def test_a_declared_type_that_contradicts_the_format_is_refused(fmt: UploadFormat, declared: str) -> None:
    scenario, data = VALID[fmt]
    with pytest.raises(InvalidArgument) as caught:
        read(data, scenario, UploadSpec("data.file", fmt, media_type=declared))
    message = str(caught.value)
    assert "data.file" in message and declared in message and fmt.value in message, message
    assert caught.value.field == "media_type"


@pytest.mark.parametrize(
    ("fmt", "declared"),
    [
        (UploadFormat.CSV, ""),
        (UploadFormat.CSV, "text/csv"),
        (UploadFormat.CSV, "text/csv; charset=utf-8"),
        (UploadFormat.CSV, "text/plain"),
        (UploadFormat.CSV, "application/octet-stream"),
        (UploadFormat.JSONL, "application/jsonl"),
        (UploadFormat.JSONL, "application/x-ndjson"),
        (UploadFormat.JSONL, "text/plain"),
        (UploadFormat.LOG_LINES, "text/plain"),
        (UploadFormat.IMAGE_ARCHIVE, "application/zip"),
        (UploadFormat.IMAGE_ARCHIVE, "application/x-tar"),
        (UploadFormat.IMAGE_ARCHIVE, "application/gzip"),
        (UploadFormat.IMAGE_ARCHIVE, "Application/X-GZIP"),
        (UploadFormat.COCO_JSON, "application/zip"),
        (UploadFormat.COCO_JSON, "application/json"),
    ],
)
def test_a_declared_type_usual_for_the_format_is_accepted(fmt: UploadFormat, declared: str) -> None:
    scenario, data = VALID[fmt]
    assert read(data, scenario, UploadSpec("data.file", fmt, media_type=declared))


def test_default_boxes_must_fit_each_uploaded_image() -> None:
    boxes = Boxes((BoundingBox("cat", 2, 2, 10, 5),))
    archive = zip_bytes({"a.png": png(20, 10), "b.png": png(8, 8)}).getvalue()
    spec = UploadSpec("shots.zip", UploadFormat.IMAGE_ARCHIVE, default_annotation=boxes)
    with pytest.raises(
        InvalidArgument, match=r"box \[2, 2, 10, 5\] \(cat\) lies outside the 8x8 image"
    ) as caught:
        read(archive, Scenario.OBJECT_DETECTION, spec)
    assert "b.png" in str(caught.value)
    fitting = zip_bytes({"a.png": png(20, 10)}).getvalue()
    assert [s.annotation for s in read(fitting, Scenario.OBJECT_DETECTION, spec)] == [boxes]
