"""COCO detection uploads: categories known, boxes inside images, images matching the JSON."""

from __future__ import annotations

import copy
import io
import json
from typing import Any

import pytest

from mlops.kernel.errors import InvalidArgument
from services.dataset.domain import BoundingBox, Boxes, Scenario
from services.dataset.ingest import (
    IngestedSample,
    IngestLimits,
    UploadFormat,
    UploadSpec,
    collect_upload,
    read_coco_json,
)

from .builders import png, tar_bytes, zip_bytes

COCO: dict[str, Any] = {
    "images": [
        {"id": 1, "file_name": "a.png", "width": 20, "height": 10},
        {"id": 2, "file_name": "b.png", "width": 8, "height": 8},
    ],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 7, "bbox": [0, 0, 20, 10]},
        {"id": 2, "image_id": 1, "category_id": 9, "bbox": [2.5, 1, 4, 4]},
    ],
    "categories": [{"id": 7, "name": "cat"}, {"id": 9, "name": "dog"}],
}


def archive(coco: dict[str, Any] | bytes, build=zip_bytes, **images: bytes) -> io.BytesIO:  # type: ignore[no-untyped-def]
    document = coco if isinstance(coco, bytes) else json.dumps(coco).encode()
    members = {"annotations.json": document, "images/a.png": png(20, 10), "images/b.png": png(8, 8)}
    members.update({f"images/{name}": data for name, data in images.items()})
    return build({k: v for k, v in members.items() if v})


def read(stream: io.BytesIO, scenario: Scenario = Scenario.OBJECT_DETECTION) -> list[IngestedSample]:
    spec = UploadSpec(file_name="coco.zip", format=UploadFormat.COCO_JSON)
    return collect_upload(stream, scenario=scenario, spec=spec, limits=IngestLimits())


@pytest.mark.parametrize("build", [zip_bytes, tar_bytes], ids=["zip", "tar"])
def test_a_coco_archive_gives_images_with_their_boxes(build) -> None:  # type: ignore[no-untyped-def]
    samples = {s.name: s for s in read(archive(COCO, build))}
    assert sorted(samples) == ["images/a.png", "images/b.png"]
    assert samples["images/a.png"].annotation == Boxes(
        (BoundingBox("cat", 0, 0, 20, 10), BoundingBox("dog", 2.5, 1, 4, 4))
    )
    assert samples["images/b.png"].annotation == Boxes(()), "listed without boxes: annotated as empty"


def broken(change) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    coco = copy.deepcopy(COCO)
    change(coco)
    return coco


@pytest.mark.parametrize(
    ("coco", "message"),
    [
        (
            broken(lambda c: c["annotations"][1].update(bbox=[18, 0, 4, 4])),
            r"annotations\[1\]: box .* lies outside",
        ),
        (
            broken(lambda c: c["annotations"][0].update(bbox=[-1, 0, 4, 4])),
            r"annotations\[0\]: box .* lies outside",
        ),
        (
            broken(lambda c: c["annotations"][0].update(bbox=[0, 0, 0, 4])),
            r"annotations\[0\]: box .* no area",
        ),
        (
            broken(lambda c: c["annotations"][0].update(bbox=[0, 0, 4])),
            r"'bbox' must be \[x, y, width, height\]",
        ),
        (
            broken(lambda c: c["annotations"][0].update(category_id=3)),
            r"annotations\[0\]: unknown category_id 3",
        ),
        (broken(lambda c: c["annotations"][0].update(image_id=99)), r"annotations\[0\]: unknown image_id 99"),
        (broken(lambda c: c["images"][1].update(id=1)), r"images\[1\]: image id 1 .* appears twice"),
        (broken(lambda c: c["images"][0].update(width=0)), r"images\[0\]: needs positive integer"),
        (broken(lambda c: c["images"][0].update(file_name="../../a.png")), r"climbs out"),
        (broken(lambda c: c["categories"].append({"id": 7, "name": "x"})), r"category id 7 appears twice"),
        (broken(lambda c: c.pop("categories")), r"needs a list 'categories'"),
        (b"{not json", r"malformed JSON"),
        (b"[]", r"a COCO file is a JSON object"),
    ],
)
def test_bad_coco_documents_are_refused(coco: dict[str, Any] | bytes, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        read(archive(coco))


def test_images_must_match_the_document() -> None:
    with pytest.raises(InvalidArgument, match=r"images/c.png: the image is not listed in annotations.json"):
        read(archive(COCO, **{"c.png": png()}))
    with pytest.raises(InvalidArgument, match=r"images/b.png: the image is 9x8, annotations.json says 8x8"):
        read(archive(COCO, **{"b.png": png(9, 8)}))
    with pytest.raises(
        InvalidArgument, match=r"1 images listed in annotations.json are not in the archive: 'b.png'"
    ):
        read(archive(COCO, **{"b.png": b""}))
    with pytest.raises(InvalidArgument, match=r"no COCO annotations"):
        read(zip_bytes({"images/a.png": png()}))
    with pytest.raises(InvalidArgument, match=r"two JSON files"):
        read(zip_bytes({"a.json": b"{}", "b.json": b"{}"}))


def test_coco_belongs_to_object_detection() -> None:
    with pytest.raises(
        InvalidArgument, match="image_classification dataset takes image_archive, file uploads"
    ):
        read(archive(COCO), Scenario.IMAGE_CLASSIFICATION)


def test_a_bare_coco_file_is_parsed_for_annotating_existing_images() -> None:
    annotations = read_coco_json(
        io.BytesIO(json.dumps(COCO).encode()), file_name="c.json", limits=IngestLimits()
    )
    assert annotations.categories == ("cat", "dog")
    assert len(annotations.images["a.png"].boxes.boxes) == 2
    with pytest.raises(InvalidArgument, match="larger than 10 bytes"):
        read_coco_json(io.BytesIO(b"{" * 50), file_name="c.json", limits=IngestLimits(max_coco_json_bytes=10))
