"""Annotations files through the service: a bare COCO JSON sets the boxes of samples uploaded before it
or beside it, in the transaction that commits the upload; every refusal leaves the draft as it was."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest

from mlops.api.common.v1 import common_pb2
from mlops.api.dataset.v1 import dataset_pb2 as pb
from tests.dataset.builders import png, zip_bytes
from tests.integration.test_dataset_api import (  # noqa: F401
    Running,
    all_samples,
    create,
    running,
    upload,
    upload_parts,
)

DETECTION = common_pb2.SCENARIO_OBJECT_DETECTION
COCO_JSON = pb.UPLOAD_FORMAT_COCO_JSON
COCO: dict[str, Any] = {
    "images": [
        {"id": 1, "file_name": "a.png", "width": 20, "height": 10},
        {"id": 2, "file_name": "b.png", "width": 8, "height": 8},
    ],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 7, "bbox": [2, 1, 4, 4]},
        {"id": 2, "image_id": 1, "category_id": 9, "bbox": [10, 0, 10, 10]},
    ],
    "categories": [{"id": 7, "name": "cat"}, {"id": 9, "name": "dog"}],
}


def document(coco: dict[str, Any] = COCO, **changes: Any) -> bytes:
    return json.dumps({**coco, **changes}).encode()


def images_zip() -> bytes:
    return zip_bytes({"a.png": png(20, 10), "b.png": png(8, 8)}).getvalue()


def boxes(sample: pb.Sample) -> list[tuple[str, float, float, float, float]] | None:
    """None: unannotated; []: annotated as showing no objects."""
    if sample.annotation.WhichOneof("value") != "boxes":
        return None
    return [(b.label, b.x, b.y, b.width, b.height) for b in sample.annotation.boxes.boxes]


async def draft_with_images(running: Running) -> pb.Dataset:  # noqa: F811
    dataset = await create(running.stub, scenario=DETECTION)
    await upload(running.stub, dataset.id, "images.zip", pb.UPLOAD_FORMAT_IMAGE_ARCHIVE, images_zip())
    return dataset


async def refused(running: Running, dataset_id: str, files: list[tuple[str, int, bytes]]) -> str:  # noqa: F811
    """The upload's INVALID_ARGUMENT details, once the draft is seen unchanged by it."""
    before = await all_samples(running.stub, dataset_id)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await running.stub.UploadSamples(iter(upload_parts(dataset_id, files)))
    assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT, error.value.details()
    assert await all_samples(running.stub, dataset_id) == before
    return error.value.details() or ""


async def test_images_uploaded_first_are_annotated_by_a_bare_coco_file(running: Running) -> None:  # noqa: F811
    dataset = await draft_with_images(running)
    ids = {s.name: s.id for s in await all_samples(running.stub, dataset.id)}
    reply = await upload(running.stub, dataset.id, "annotations.json", COCO_JSON, document())
    assert (reply.samples_added, reply.samples_annotated, reply.new_blobs) == (0, 2, 0)
    annotated = {s.name: s for s in await all_samples(running.stub, dataset.id)}
    assert {name: s.id for name, s in annotated.items()} == ids, "the same samples, annotated"
    assert boxes(annotated["a.png"]) == [("cat", 2, 1, 4, 4), ("dog", 10, 0, 10, 10)]
    assert boxes(annotated["b.png"]) == [], "listed without annotations: no objects"
    # A second export replaces the boxes; a publish counts them.
    again = await upload(
        running.stub, dataset.id, "v2.json", COCO_JSON, document(annotations=[COCO["annotations"][0]])
    )
    assert again.samples_annotated == 2
    version = await running.stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id))
    assert dict(version.counts_per_label) == {"cat": 1}


@pytest.mark.parametrize("json_first", [False, True], ids=["images-then-json", "json-then-images"])
async def test_images_and_their_annotations_in_one_upload(running: Running, json_first: bool) -> None:  # noqa: F811
    dataset = await create(running.stub, scenario=DETECTION)
    files: list[tuple[str, int, bytes]] = [
        ("images.zip", pb.UPLOAD_FORMAT_IMAGE_ARCHIVE, images_zip()),
        ("c.json", COCO_JSON, document()),
    ]
    reply = await running.stub.UploadSamples(
        iter(upload_parts(dataset.id, files[::-1] if json_first else files))
    )
    assert (reply.samples_added, reply.samples_annotated) == (2, 2)
    annotated = {s.name: boxes(s) for s in await all_samples(running.stub, dataset.id)}
    assert annotated == {"a.png": [("cat", 2, 1, 4, 4), ("dog", 10, 0, 10, 10)], "b.png": []}


async def test_replacing_a_sample_annotates_its_replacement(running: Running) -> None:  # noqa: F811
    dataset = await draft_with_images(running)
    old = {s.name: s.id for s in await all_samples(running.stub, dataset.id)}
    files: list[tuple[str, int, bytes]] = [
        ("a.png", pb.UPLOAD_FORMAT_FILE, png(20, 10)),
        ("c.json", COCO_JSON, document()),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as clash:
        await running.stub.UploadSamples(iter(upload_parts(dataset.id, files)))
    assert clash.value.code() is grpc.StatusCode.ALREADY_EXISTS
    reply = await running.stub.UploadSamples(iter(upload_parts(dataset.id, files, replace_existing=True)))
    assert (reply.samples_added, reply.samples_replaced, reply.samples_annotated) == (1, 1, 2)
    now = {s.name: s for s in await all_samples(running.stub, dataset.id)}
    assert now["a.png"].id != old["a.png"] and now["b.png"].id == old["b.png"]
    assert len(boxes(now["a.png"]) or []) == 2 and boxes(now["b.png"]) == []


async def test_an_image_naming_no_sample_refuses_the_upload(running: Running) -> None:  # noqa: F811
    dataset = await draft_with_images(running)
    await upload(running.stub, dataset.id, "first.json", COCO_JSON, document())
    extra = [{"id": 10 + n, "file_name": f"missing-{n}.png", "width": 8, "height": 8} for n in range(7)]
    unknown = document(images=[*COCO["images"], *extra], annotations=[])
    details = await refused(running, dataset.id, [("second.json", COCO_JSON, unknown)])
    assert "second.json: 7 of its images name no sample" in details
    assert "'missing-0.png'" in details and "and 2 more" in details
    # Beside new images, the images are not kept either: no sample, and their blobs taken back.
    await running.blobs.ensure_bucket()
    objects = {info.key async for info in running.blobs.iter_objects("")}
    new_images = zip_bytes({"c.png": png(9, 9)}).getvalue()
    details = await refused(
        running,
        dataset.id,
        [("more.zip", pb.UPLOAD_FORMAT_IMAGE_ARCHIVE, new_images), ("second.json", COCO_JSON, unknown)],
    )
    assert "7 of its images name no sample" in details
    assert {info.key async for info in running.blobs.iter_objects("")} == objects


async def test_an_image_of_another_size_refuses_the_upload(running: Running) -> None:  # noqa: F811
    dataset = await draft_with_images(running)
    resized = document(
        images=[{**COCO["images"][0], "width": 40, "height": 20}, COCO["images"][1]],
    )
    details = await refused(running, dataset.id, [("c.json", COCO_JSON, resized)])
    assert "c.json: image 'a.png' is 40x20 there, but the sample is 20x10" in details


async def test_a_box_outside_its_image_refuses_the_upload(running: Running) -> None:  # noqa: F811
    dataset = await draft_with_images(running)
    outside = document(annotations=[{"id": 1, "image_id": 1, "category_id": 7, "bbox": [15, 0, 10, 10]}])
    details = await refused(running, dataset.id, [("c.json", COCO_JSON, outside)])
    assert "c.json: annotations[0]: box" in details and "lies outside image 'a.png'" in details


async def test_an_upload_of_annotations_alone_for_another_scenario_is_refused(running: Running) -> None:  # noqa: F811
    dataset = await create(running.stub)
    details = await refused(running, dataset.id, [("c.json", COCO_JSON, document())])
    assert "image_classification dataset takes" in details
