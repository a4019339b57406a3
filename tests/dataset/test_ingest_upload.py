"""The upload entry point: formats per scenario, defaults, text files and spooling with a limit."""

from __future__ import annotations

import io

import pytest

from mlops.kernel.errors import InvalidArgument
from services.dataset.domain import Label, Purpose, Scenario, Target
from services.dataset.ingest import (
    FORMATS_BY_SCENARIO,
    IngestLimits,
    UploadFormat,
    UploadSpec,
    UploadSpooler,
    collect_upload,
    read_upload,
)

from .builders import png


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


def test_the_spooler_refuses_an_oversize_upload_as_it_arrives() -> None:
    with UploadSpooler("big.zip", IngestLimits(max_upload_bytes=10)) as spooler:
        spooler.write(b"12345")
        with pytest.raises(InvalidArgument, match="more than the upload limit of 10 bytes"):
            spooler.write(b"678901")
    with UploadSpooler("ok.jsonl") as spooler:
        spooler.write(b'{"text": "a"}\n')
        spooler.write(b'{"text": "b"}\n')
        spec = UploadSpec("ok.jsonl", UploadFormat.JSONL)
        samples = list(read_upload(spooler.file(), scenario=Scenario.TEXT_CLASSIFICATION, spec=spec))
        assert [s.read_bytes() for s in samples] == [b"a", b"b"]
