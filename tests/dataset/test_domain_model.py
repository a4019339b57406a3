"""Datasets, samples and annotations: the rules that keep them valid."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mlops.kernel.errors import InvalidArgument
from services.dataset.domain import (
    BoundingBox,
    Boxes,
    Dataset,
    Label,
    Purpose,
    Sample,
    Scenario,
    Target,
    check_annotation,
)

NOW = datetime(2026, 11, 23, tzinfo=UTC)
SHA = "a" * 64


def test_scenarios_and_purposes_parse_from_proto_and_folder_spellings() -> None:
    assert Scenario.parse("SCENARIO_OBJECT_DETECTION") is Scenario.OBJECT_DETECTION
    assert Scenario.parse("time_series_forecasting") is Scenario.TIME_SERIES_FORECASTING
    assert Purpose.parse("train") is Purpose.TRAINING
    assert Purpose.parse(" VAL ") is Purpose.VALIDATION
    assert Purpose.parse("PURPOSE_TESTING") is Purpose.TESTING
    with pytest.raises(InvalidArgument, match="unknown purpose 'holdout'") as caught:
        Purpose.parse("holdout", field="row 3")
    assert caught.value.field == "row 3"
    with pytest.raises(InvalidArgument, match="unknown scenario"):
        Scenario.parse("speech")


@pytest.mark.parametrize("name", ["", "-leading-dash", "has space", "slash/inside", "x" * 65, "ünïcode"])
def test_dataset_names_are_refused_when_they_break_the_rules(name: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        Dataset.create(name=name, scenario=Scenario.LOG_CLUSTERING, owner="ana")
    assert caught.value.field == "name"


def test_a_dataset_keeps_unique_tags_and_updates_them() -> None:
    dataset = Dataset.create(
        name="Pump.sensors_v2",
        scenario=Scenario.ANOMALY_DETECTION,
        owner="ana",
        tags=["a", "b", "a"],
        now=NOW,
    )
    assert dataset.tags == ("a", "b")
    assert dataset.latest_version == 0 and dataset.next_version_number() == 1
    added = dataset.update(now=NOW, tags=["c", "a"])
    assert added.tags == ("a", "b", "c")
    replaced = added.update(now=NOW, tags=[], replace_tags=True, description="pumps")
    assert replaced.tags == () and replaced.description == "pumps"
    with pytest.raises(InvalidArgument, match="tag"):
        dataset.update(now=NOW, tags=["bad tag"])
    with pytest.raises(InvalidArgument, match="at most 32"):
        dataset.update(now=NOW, tags=[f"t{i}" for i in range(33)])


@pytest.mark.parametrize(
    ("scenario", "annotation"),
    [
        (Scenario.IMAGE_CLASSIFICATION, Target(1.0)),
        (Scenario.TIME_SERIES_FORECASTING, Label("up")),
        (Scenario.OBJECT_DETECTION, Label("cat")),
        (Scenario.TEXT_CLASSIFICATION, Boxes(())),
    ],
)
def test_an_annotation_must_suit_the_scenario(scenario: Scenario, annotation: Label | Target | Boxes) -> None:
    with pytest.raises(InvalidArgument, match=scenario.value):
        check_annotation(scenario, annotation)


def test_annotations_are_checked_for_content() -> None:
    check_annotation(Scenario.OBJECT_DETECTION, Boxes((BoundingBox("cat", 0, 0, 2, 2),)))
    check_annotation(Scenario.IMAGE_CLASSIFICATION, None)
    with pytest.raises(InvalidArgument, match="positive size"):
        check_annotation(Scenario.OBJECT_DETECTION, Boxes((BoundingBox("cat", 0, 0, 0, 2),)))
    with pytest.raises(InvalidArgument, match="empty"):
        check_annotation(Scenario.IMAGE_CLASSIFICATION, Label("  "))
    with pytest.raises(InvalidArgument, match="finite"):
        check_annotation(Scenario.TIME_SERIES_FORECASTING, Target(float("nan")))


def test_a_sample_needs_a_content_hash_and_a_zoned_time() -> None:
    sample = Sample(name="cat/1.png", content_sha256=SHA, size_bytes=3, media_type="image/png")
    assert sample.purpose is Purpose.TRAINING and sample.label == ""
    with pytest.raises(InvalidArgument, match="64 lowercase hex"):
        Sample(name="x", content_sha256="abc", size_bytes=3, media_type="image/png")
    with pytest.raises(InvalidArgument, match="time zone"):
        Sample(name="x", content_sha256=SHA, size_bytes=3, media_type="t", observed_at=datetime(2026, 1, 1))
    with pytest.raises(InvalidArgument, match="control"):
        Sample(name="a\nb", content_sha256=SHA, size_bytes=3, media_type="t")
    with pytest.raises(InvalidArgument, match="plain JSON") as caught:
        Sample(name="x", content_sha256=SHA, size_bytes=3, media_type="t", metadata={"score": float("nan")})
    assert caught.value.field == "samples[x].metadata"


def test_a_box_knows_whether_it_fits_its_image() -> None:
    assert BoundingBox("cat", 0, 0, 10, 10).fits_in(10, 10)
    assert not BoundingBox("cat", 1, 0, 10, 10).fits_in(10, 10)


def test_boxes_must_fit_the_image_their_sample_records() -> None:
    size = {"width": 20, "height": 10}
    inside = Boxes((BoundingBox("cat", 0, 0, 20, 10), BoundingBox("dog", 5.5, 2, 4, 8)))
    check_annotation(Scenario.OBJECT_DETECTION, inside, metadata=size)
    outside = Boxes((BoundingBox("cat", 0, 0, 20, 10), BoundingBox("dog", 15, 2, 6, 3)))
    with pytest.raises(InvalidArgument, match=r"box \[15, 2, 6, 3\] \(dog\) lies outside the 20x10 image"):
        check_annotation(Scenario.OBJECT_DETECTION, outside, field="annotation", metadata=size)
    # No recorded size (or no sensible one): only the box's own rules apply.
    for metadata in (None, {}, {"width": "20", "height": 10}, {"width": True, "height": 10}):
        check_annotation(Scenario.OBJECT_DETECTION, outside, metadata=metadata)
