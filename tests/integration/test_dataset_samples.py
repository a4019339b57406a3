"""One sample through the API: boxes that must fit the image, metadata that keeps its numbers, the
time it entered the draft, and filters that make sense for a version."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import struct_pb2

from mlops.api.common.v1 import common_pb2
from mlops.api.dataset.v1 import dataset_pb2 as pb
from tests.dataset.builders import png
from tests.integration.test_dataset_api import Running, all_samples, create, running, upload  # noqa: F401

DETECTION = common_pb2.SCENARIO_OBJECT_DETECTION


def _boxes(*boxes: tuple[str, float, float, float, float]) -> pb.Annotation:
    return pb.Annotation(
        boxes=pb.BoxList(
            boxes=[pb.BoundingBox(label=b[0], x=b[1], y=b[2], width=b[3], height=b[4]) for b in boxes]
        )
    )


def _struct(**values: object) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


async def test_boxes_must_fit_the_image_whatever_changes(running: Running) -> None:  # noqa: F811
    stub = running.stub
    dataset = await create(stub, scenario=DETECTION)
    await upload(stub, dataset.id, "street.png", pb.UPLOAD_FORMAT_FILE, png(40, 20))
    [sample] = await all_samples(stub, dataset.id)
    assert sample.created_at.seconds > 0
    assert dict(sample.metadata) == {"width": 40, "height": 20}

    def update(**fields: object) -> object:
        return stub.UpdateSample(pb.UpdateSampleRequest(dataset_id=dataset.id, sample_id=sample.id, **fields))

    with pytest.raises(grpc.aio.AioRpcError) as outside:
        await update(annotation=_boxes(("car", 30, 5, 20, 10)))
    assert outside.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "box [30, 5, 20, 10] (car) lies outside the 40x20 image" in (outside.value.details() or "")
    fitted = await update(annotation=_boxes(("car", 20, 5, 20, 10)))
    assert len(fitted.annotation.boxes.boxes) == 1  # type: ignore[attr-defined]
    # Shrinking the recorded image under its boxes is refused as well.
    with pytest.raises(grpc.aio.AioRpcError) as shrunk:
        await update(metadata=_struct(width=30, height=20))
    assert shrunk.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as relabelled:
        await stub.RelabelSamples(
            pb.RelabelSamplesRequest(
                dataset_id=dataset.id, filter=pb.SampleFilter(), set_annotation=_boxes(("car", 0, 0, 41, 1))
            )
        )
    assert relabelled.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    kept = await stub.GetSample(pb.GetSampleRequest(dataset_id=dataset.id, sample_id=sample.id))
    assert kept.annotation == fitted.annotation  # type: ignore[attr-defined]
    # Whole numbers keep their type through the Struct's doubles; fractions stay fractions.
    renamed = await update(metadata=_struct(width=40, height=20, camera="north", gain=1.5))
    assert dict(renamed.metadata) == {"width": 40, "height": 20, "camera": "north", "gain": 1.5}  # type: ignore[attr-defined]
    listed = await all_samples(stub, dataset.id)
    assert listed[0].metadata == renamed.metadata  # type: ignore[attr-defined]


async def test_a_version_cannot_be_filtered_by_draft_sample_ids(running: Running) -> None:  # noqa: F811
    stub = running.stub
    dataset = await create(stub, scenario=DETECTION)
    await upload(stub, dataset.id, "a.png", pb.UPLOAD_FORMAT_FILE, png(8, 8))
    await stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id))
    [sample] = await all_samples(stub, dataset.id)
    request = pb.ListSamplesRequest(
        dataset_id=dataset.id, version=1, filter=pb.SampleFilter(sample_ids=[sample.id])
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.ListSamples(request)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "filter them by name prefix" in (refused.value.details() or "")
    by_draft_id = await stub.ListSamples(
        pb.ListSamplesRequest(dataset_id=dataset.id, filter=pb.SampleFilter(sample_ids=[sample.id]))
    )
    assert [s.id for s in by_draft_id.samples] == [sample.id]
