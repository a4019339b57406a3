"""Annotations files: a bare COCO JSON told from an archive, and its images matched to samples by name."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from mlops.kernel.errors import InvalidArgument
from services.dataset.domain import BoundingBox, Boxes, Sample, Scenario
from services.dataset.ingest import (
    AnnotationsFile,
    CocoAnnotations,
    CocoImage,
    UploadFormat,
    UploadSpec,
    annotate,
    annotated_names,
    is_annotations_file,
    is_coco_document,
    read_annotations_file,
)

from .builders import zip_bytes

DETECTION = Scenario.OBJECT_DETECTION
COCO: dict[str, Any] = {
    "images": [
        {"id": 1, "file_name": "a.png", "width": 20, "height": 10},
        {"id": 2, "file_name": "b.png", "width": 8, "height": 8},
    ],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [2, 1, 4, 4]}],
    "categories": [{"id": 7, "name": "cat"}],
}
SPEC = UploadSpec(file_name="labels.json", format=UploadFormat.COCO_JSON)


def image(name: str, width: int = 20, height: int = 10, **metadata: Any) -> Sample:
    return Sample(
        name=name,
        content_sha256="0" * 64,
        size_bytes=1,
        media_type="image/png",
        metadata={"width": width, "height": height, **metadata},
    )


def coco_file(coco: dict[str, Any] = COCO, file_name: str = "labels.json") -> AnnotationsFile:
    stream = io.BytesIO(json.dumps(coco).encode())
    spec = UploadSpec(file_name=file_name, format=UploadFormat.COCO_JSON)
    return read_annotations_file(stream, scenario=DETECTION, spec=spec)


@pytest.mark.parametrize(
    ("content", "bare"),
    [
        (b'{"images": []}', True),
        (b'\n\t  {"images": []}', True),
        (b'\xef\xbb\xbf{"images": []}', True),
        (b"[]", False),
        (zip_bytes({"a.json": b"{}"}).getvalue(), False),
        (b"", False),
    ],
)
def test_a_bare_json_object_is_told_from_an_archive(content: bytes, bare: bool) -> None:
    stream = io.BytesIO(content)
    assert is_coco_document(stream) is bare
    assert stream.tell() == 0, "rewound for the reader"
    assert is_annotations_file(stream, SPEC) is bare
    other_format = UploadSpec(file_name="labels.json", format=UploadFormat.FILE)
    assert not is_annotations_file(stream, other_format)


def test_an_annotations_file_is_checked_as_any_upload() -> None:
    assert annotated_names([coco_file()]) == {"a.png", "b.png"}
    with pytest.raises(InvalidArgument, match="image_classification dataset takes"):
        read_annotations_file(io.BytesIO(b"{}"), scenario=Scenario.IMAGE_CLASSIFICATION, spec=SPEC)
    with pytest.raises(InvalidArgument, match="empty"):
        read_annotations_file(io.BytesIO(b""), scenario=DETECTION, spec=SPEC)
    with pytest.raises(InvalidArgument, match=r"labels\.json: malformed JSON"):
        read_annotations_file(io.BytesIO(b"{nope"), scenario=DETECTION, spec=SPEC)


def test_images_set_the_boxes_of_the_samples_named_by_their_file_name() -> None:
    samples = {"a.png": image("a.png", camera="north"), "b.png": image("b.png", 8, 8)}
    annotated = {s.name: s for s in annotate([coco_file()], samples, DETECTION)}
    assert annotated["a.png"].annotation == Boxes((BoundingBox("cat", 2, 1, 4, 4),))
    assert annotated["a.png"].sample_id == samples["a.png"].sample_id
    assert annotated["a.png"].metadata["camera"] == "north", "only the annotation changes"
    # Listed without annotations: explicitly no objects, not left unannotated.
    assert annotated["b.png"].annotation == Boxes(())


def test_every_image_must_name_a_sample() -> None:
    many = {
        **COCO,
        "images": [{"id": n, "file_name": f"x{n}.png", "width": 8, "height": 8} for n in range(1, 9)],
        "annotations": [],
    }
    with pytest.raises(InvalidArgument) as refused:
        annotate([coco_file(many)], {"x1.png": image("x1.png", 8, 8)}, DETECTION)
    message = str(refused.value)
    assert "labels.json: 7 of its images name no sample" in message
    assert "'x2.png', 'x3.png', 'x4.png', 'x5.png', 'x6.png' and 2 more" in message
    assert "x7.png" not in message


def test_an_image_must_have_the_size_recorded_for_its_sample() -> None:
    with pytest.raises(
        InvalidArgument, match=r"labels.json: image 'a.png' is 20x10 there, but the sample is 21x10"
    ):
        annotate([coco_file()], {"a.png": image("a.png", 21, 10), "b.png": image("b.png", 8, 8)}, DETECTION)
    unsized = image("a.png").with_changes(metadata={})
    with pytest.raises(InvalidArgument, match=r"sample 'a.png' has no recorded width and height"):
        annotate([coco_file()], {"a.png": unsized, "b.png": image("b.png", 8, 8)}, DETECTION)


def test_boxes_must_fit_the_sample() -> None:
    """parse_coco refuses boxes outside the JSON's own size; the sample's check is the domain's."""
    outside = Boxes((BoundingBox("cat", 15, 0, 10, 10),))
    annotations = CocoAnnotations({"a.png": CocoImage("a.png", 20, 10, outside)}, ("cat",))
    with pytest.raises(InvalidArgument, match=r"labels.json: a.png.*lies outside the 20x10 image"):
        annotate([AnnotationsFile("labels.json", annotations)], {"a.png": image("a.png")}, DETECTION)


def test_two_files_of_an_upload_cannot_annotate_one_image() -> None:
    samples = {"a.png": image("a.png"), "b.png": image("b.png", 8, 8)}
    with pytest.raises(InvalidArgument, match=r"second.json: 'a.png' is annotated by another file"):
        annotate([coco_file(), coco_file(file_name="second.json")], samples, DETECTION)
