"""The issue's "Bad input" list against the running service: each a clear gRPC error, nothing stored."""

from __future__ import annotations

import json
import tarfile
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import pytest_asyncio

from mlops.api.common.v1 import common_pb2
from mlops.api.dataset.v1 import dataset_pb2 as pb
from mlops.stack.servers import NatsServer
from tests.dataset.builders import jpeg, png, tar_with, zip_bytes, zip_with_symlink
from tests.fixtures.s3 import S3Endpoint
from tests.integration.test_dataset_api import (
    Running,
    all_samples,
    create,
    image_zip,
    start_dataset_service,
    upload,
    upload_parts,
)

ARCHIVE = pb.UPLOAD_FORMAT_IMAGE_ARCHIVE
COCO: dict[str, Any] = {
    "images": [{"id": 1, "file_name": "a.png", "width": 20, "height": 10}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [0, 0, 20, 10]}],
    "categories": [{"id": 7, "name": "cat"}],
}


# One service for the whole module: every case makes a dataset of its own.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def strict(
    tmp_path_factory: pytest.TempPathFactory,
    nats_server: NatsServer,
    s3_server: S3Endpoint,
    module_database_url: str,
) -> AsyncIterator[Running]:
    """Small limits so that bombs and oversize uploads are cheap to build; on SQLite and PostgreSQL."""
    async for service in start_dataset_service(
        tmp_path_factory.mktemp("strict"),
        nats_server,
        s3_server,
        database_url=module_database_url,
        max_upload_bytes=64 * 1024,
        max_archive_members=50,
        max_uncompressed_bytes=256 * 1024,
        events_enabled=False,
    ):
        yield service


def _coco_zip(coco: dict[str, Any] | bytes) -> bytes:
    document = coco if isinstance(coco, bytes) else json.dumps(coco).encode()
    return zip_bytes({"annotations.json": document, "images/a.png": png(20, 10)}).getvalue()


def _bomb() -> bytes:
    return zip_bytes({f"cat/{n}.png": bytes(200 * 1024) for n in range(3)}).getvalue()


def _device_tar() -> bytes:
    return tar_with(tarfile.CHRTYPE, linkname="").getvalue()


IMAGE = common_pb2.SCENARIO_IMAGE_CLASSIFICATION
DETECTION = common_pb2.SCENARIO_OBJECT_DETECTION
ANOMALY = common_pb2.SCENARIO_ANOMALY_DETECTION
TEXT = common_pb2.SCENARIO_TEXT_CLASSIFICATION

# (scenario, file name, format, content, header extras, a word the message must hold)
CASES: dict[str, tuple[int, str, int, bytes, dict[str, Any], str]] = {
    "zip slip": (IMAGE, "a.zip", ARCHIVE, zip_bytes({"../../etc/cat/x.png": png()}).getvalue(), {}, ".."),
    "absolute path": (IMAGE, "a.zip", ARCHIVE, zip_bytes({"/etc/cat/x.png": png()}).getvalue(), {}, "/etc"),
    "encoded traversal": (
        IMAGE,
        "a.zip",
        ARCHIVE,
        zip_bytes({"%2e%2e%2fcat/x.png": png()}).getvalue(),
        {},
        "%2e",
    ),
    "backslashes": (IMAGE, "a.zip", ARCHIVE, zip_bytes({"..\\cat\\x.png": png()}).getvalue(), {}, "\\"),
    "zip symlink": (
        IMAGE,
        "a.zip",
        ARCHIVE,
        zip_with_symlink("cat/x.png", "/etc/passwd").getvalue(),
        {},
        "link",
    ),
    "tar symlink": (IMAGE, "a.tar", ARCHIVE, tar_with(tarfile.SYMTYPE).getvalue(), {}, "link"),
    "tar hard link": (IMAGE, "a.tar", ARCHIVE, tar_with(tarfile.LNKTYPE).getvalue(), {}, "link"),
    "tar device": (IMAGE, "a.tar", ARCHIVE, _device_tar(), {}, "cat/evil.png"),
    "archive bomb": (IMAGE, "a.zip", ARCHIVE, _bomb(), {}, "limit"),
    "too many members": (
        IMAGE,
        "a.zip",
        ARCHIVE,
        zip_bytes({f"cat/{n}.png": png() for n in range(60)}).getvalue(),
        {},
        "50",
    ),
    "oversize upload": (IMAGE, "a.zip", ARCHIVE, bytes(70 * 1024), {}, "limit"),
    "empty file": (IMAGE, "x.png", pb.UPLOAD_FORMAT_FILE, b"", {}, "empty"),
    "wrong content type": (
        IMAGE,
        "x.png",
        pb.UPLOAD_FORMAT_FILE,
        jpeg(),
        {"media_type": "image/png"},
        "x.png",
    ),
    "text as image": (IMAGE, "x.png", pb.UPLOAD_FORMAT_FILE, b"hello there", {}, "x.png"),
    "format of another scenario": (IMAGE, "a.csv", pb.UPLOAD_FORMAT_CSV, b"a,b\n1,2\n", {}, "image_archive"),
    "malformed csv": (
        ANOMALY,
        "s.csv",
        pb.UPLOAD_FORMAT_CSV,
        b"temp,label\n1.5,normal\nabc,normal,extra\n",
        {},
        "row 3",
    ),
    "malformed jsonl": (
        TEXT,
        "t.jsonl",
        pb.UPLOAD_FORMAT_JSONL,
        b'{"text": "a", "label": "x"}\n{"text": \n',
        {},
        "line 2",
    ),
    "malformed coco": (
        DETECTION,
        "c.zip",
        pb.UPLOAD_FORMAT_COCO_JSON,
        _coco_zip(b"{not json"),
        {},
        "annotations.json",
    ),
    "unknown purpose in a file": (
        ANOMALY,
        "s.csv",
        pb.UPLOAD_FORMAT_CSV,
        b"temp,label,purpose\n1,ok,holdout\n",
        {},
        "holdout",
    ),
    "unknown purpose value": (IMAGE, "a.zip", ARCHIVE, image_zip(2), {"default_purpose": 7}, "purpose"),
    "box outside the image": (
        DETECTION,
        "c.zip",
        pb.UPLOAD_FORMAT_COCO_JSON,
        _coco_zip(
            {**COCO, "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [5, 5, 20, 10]}]}
        ),
        {},
        "a.png",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_bad_upload_is_refused_and_nothing_is_stored(strict: Running, case: str) -> None:
    scenario, name, fmt, data, extras, word = CASES[case]
    dataset = await create(strict.stub, scenario=scenario)
    # A valid file first in the same upload: it must not be kept either.
    good = image_zip(2) if scenario == IMAGE else None
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        if good is None:
            await upload(strict.stub, dataset.id, name, fmt, data, **extras)
        else:
            parts = upload_parts(dataset.id, [("good.zip", ARCHIVE, good), (name, fmt, data)], **extras)
            await strict.stub.UploadSamples(iter(parts))
    assert refused.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION)
    assert word.lower() in refused.value.details().lower(), refused.value.details()
    assert await all_samples(strict.stub, dataset.id) == []
    assert (await strict.stub.GetDataset(pb.GetDatasetRequest(dataset_id=dataset.id))).draft_sample_count == 0


async def test_stream_without_header_and_empty_draft_publish_are_refused(strict: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as headless:
        await strict.stub.UploadSamples(iter([pb.UploadSamplesRequest(chunk=b"abc")]))
    assert headless.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    dataset = await create(strict.stub)
    with pytest.raises(grpc.aio.AioRpcError) as empty:
        await strict.stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id))
    assert empty.value.code() is grpc.StatusCode.FAILED_PRECONDITION and "empty" in empty.value.details()
    await upload(strict.stub, dataset.id, "a.zip", ARCHIVE, image_zip(3))
    with pytest.raises(grpc.aio.AioRpcError) as twice:
        await upload(strict.stub, dataset.id, "a.zip", ARCHIVE, image_zip(3))
    assert twice.value.code() is grpc.StatusCode.ALREADY_EXISTS
    assert len(await all_samples(strict.stub, dataset.id)) == 3
