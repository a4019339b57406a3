"""The issue's "Bad input" list against the running service: each a clear gRPC error, nothing stored."""

from __future__ import annotations

import io
import json
import tarfile
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
import pytest_asyncio

from mlops.api.common.v1 import common_pb2
from mlops.api.dataset.v1 import dataset_pb2 as pb
from mlops.stack.servers import NatsServer
from tests.dataset.builders import jpeg, png, tar_bytes, tar_with, zip_bytes, zip_with_symlink
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
        max_upload_files=8,
        max_upload_total_bytes=160 * 1024,
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


def _tgz_bomb() -> bytes:
    return tar_bytes({f"cat/{n}.png": png() + bytes(200 * 1024) for n in range(3)}, "w:gz").getvalue()


def _device_tar() -> bytes:
    return tar_with(tarfile.CHRTYPE, linkname="").getvalue()


def _long_name_bomb() -> bytes:
    """A TAR header claiming a 4 GiB long name, then 4 MiB of zeros, gzipped to a few KB."""
    header = tarfile.TarInfo("././@LongLink")
    header.type = tarfile.GNUTYPE_LONGNAME
    header.size = 4 * 1024**3
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [compressor.compress(header.tobuf(format=tarfile.GNU_FORMAT))]
    parts.extend(compressor.compress(bytes(1024 * 1024)) for _ in range(4))
    return b"".join([*parts, compressor.flush()])


def _tar_with_a_member_twice() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for _ in range(2):
            info = tarfile.TarInfo("cat/x.png")
            info.size = len(png())
            archive.addfile(info, io.BytesIO(png()))
    return buffer.getvalue()


def _csv(rows: range, *, first: float = 0.0) -> bytes:
    """A valid anomaly-detection CSV, a distinct value per row."""
    return b"temp,label\n" + b"".join(b"%.3f,normal\n" % (first + n) for n in rows)


IMAGE = common_pb2.SCENARIO_IMAGE_CLASSIFICATION
DETECTION = common_pb2.SCENARIO_OBJECT_DETECTION
ANOMALY = common_pb2.SCENARIO_ANOMALY_DETECTION
TEXT = common_pb2.SCENARIO_TEXT_CLASSIFICATION
INVALID = grpc.StatusCode.INVALID_ARGUMENT


@dataclass(frozen=True)
class Bad:
    """A refused file: in an image dataset it follows a valid archive in the same upload."""

    scenario: int
    name: str
    format: int
    content: bytes
    # A word the message must hold.
    word: str
    header: dict[str, Any] = field(default_factory=dict)
    code: grpc.StatusCode = INVALID


CASES: dict[str, Bad] = {
    "zip slip": Bad(IMAGE, "a.zip", ARCHIVE, zip_bytes({"../../etc/cat/x.png": png()}).getvalue(), ".."),
    "absolute path": Bad(IMAGE, "a.zip", ARCHIVE, zip_bytes({"/etc/cat/x.png": png()}).getvalue(), "/etc"),
    "encoded traversal": Bad(
        IMAGE, "a.zip", ARCHIVE, zip_bytes({"%2e%2e%2fcat/x.png": png()}).getvalue(), "%2e"
    ),
    "backslashes": Bad(IMAGE, "a.zip", ARCHIVE, zip_bytes({"..\\cat\\x.png": png()}).getvalue(), "\\"),
    "zip symlink": Bad(
        IMAGE, "a.zip", ARCHIVE, zip_with_symlink("cat/x.png", "/etc/passwd").getvalue(), "link"
    ),
    "tar slip": Bad(IMAGE, "a.tar", ARCHIVE, tar_bytes({"../../etc/cat/x.png": png()}).getvalue(), ".."),
    "tar absolute path": Bad(
        IMAGE, "a.tar", ARCHIVE, tar_bytes({"/etc/cat/x.png": png()}).getvalue(), "/etc"
    ),
    "tar symlink": Bad(IMAGE, "a.tar", ARCHIVE, tar_with(tarfile.SYMTYPE).getvalue(), "symbolic link"),
    "tar hard link": Bad(IMAGE, "a.tar", ARCHIVE, tar_with(tarfile.LNKTYPE).getvalue(), "hard link"),
    "tar device": Bad(IMAGE, "a.tar", ARCHIVE, _device_tar(), "cat/evil.png"),
    "archive bomb": Bad(IMAGE, "a.zip", ARCHIVE, _bomb(), "limit"),
    "tgz bomb": Bad(IMAGE, "a.tgz", ARCHIVE, _tgz_bomb(), "expands past the limit of 262144"),
    "tar long-name bomb": Bad(IMAGE, "a.tgz", ARCHIVE, _long_name_bomb(), "header of 4294967296 bytes"),
    "too many members": Bad(
        IMAGE, "a.zip", ARCHIVE, zip_bytes({f"cat/{n}.png": png() for n in range(60)}).getvalue(), "50"
    ),
    "too many tar members": Bad(
        IMAGE,
        "a.tgz",
        ARCHIVE,
        tar_bytes({f"cat/{n}.png": png() for n in range(60)}, "w:gz").getvalue(),
        "more than 50 members",
    ),
    "oversize upload": Bad(IMAGE, "a.zip", ARCHIVE, bytes(70 * 1024), "limit"),
    "empty file": Bad(IMAGE, "x.png", pb.UPLOAD_FORMAT_FILE, b"", "empty"),
    "wrong content type": Bad(
        IMAGE, "x.png", pb.UPLOAD_FORMAT_FILE, jpeg(), "x.png", header={"media_type": "image/png"}
    ),
    "csv declared as an image": Bad(
        ANOMALY,
        "s.csv",
        pb.UPLOAD_FORMAT_CSV,
        b"temp,label\n1.5,normal\n",
        "image/png",
        header={"media_type": "image/png"},
    ),
    "archive declared as text": Bad(
        IMAGE,
        "a.zip",
        ARCHIVE,
        zip_bytes({"cat/x.png": png()}).getvalue(),
        "a.zip",
        header={"media_type": "text/csv"},
    ),
    "text as image": Bad(IMAGE, "x.png", pb.UPLOAD_FORMAT_FILE, b"hello there", "x.png"),
    "format of another scenario": Bad(IMAGE, "a.csv", pb.UPLOAD_FORMAT_CSV, b"a,b\n1,2\n", "image_archive"),
    "malformed csv": Bad(
        ANOMALY, "s.csv", pb.UPLOAD_FORMAT_CSV, b"temp,label\n1.5,normal\nabc,normal,extra\n", "row 3"
    ),
    "malformed jsonl": Bad(
        TEXT, "t.jsonl", pb.UPLOAD_FORMAT_JSONL, b'{"text": "a", "label": "x"}\n{"text": \n', "line 2"
    ),
    "malformed coco": Bad(
        DETECTION, "c.zip", pb.UPLOAD_FORMAT_COCO_JSON, _coco_zip(b"{not json"), "annotations.json"
    ),
    "unknown purpose in a file": Bad(
        ANOMALY, "s.csv", pb.UPLOAD_FORMAT_CSV, b"temp,label,purpose\n1,ok,holdout\n", "holdout"
    ),
    "unknown purpose value": Bad(
        IMAGE, "a.zip", ARCHIVE, image_zip(2), "purpose", header={"default_purpose": 7}
    ),
    "box outside the image": Bad(
        DETECTION,
        "c.zip",
        pb.UPLOAD_FORMAT_COCO_JSON,
        _coco_zip(
            {**COCO, "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [5, 5, 20, 10]}]}
        ),
        "a.png",
    ),
    "a member twice in one archive": Bad(IMAGE, "a.tar", ARCHIVE, _tar_with_a_member_twice(), "twice"),
    # The valid archive before it holds cat/img-00000.png too.
    "a name twice across the files of one upload": Bad(
        IMAGE, "cat/img-00000.png", pb.UPLOAD_FORMAT_FILE, png(), "twice"
    ),
}


async def stored_objects(running: Running) -> set[str]:
    """Every object key in the service's bucket (blobs, packs, manifests)."""
    await running.blobs.ensure_bucket()
    return {info.key async for info in running.blobs.iter_objects("")}


async def assert_nothing_stored(running: Running, dataset_id: str, objects_before: set[str]) -> None:
    assert await all_samples(running.stub, dataset_id) == []
    view = await running.stub.GetDataset(pb.GetDatasetRequest(dataset_id=dataset_id))
    assert view.draft_sample_count == 0
    assert await stored_objects(running) == objects_before


def two_file_parts(
    dataset_id: str, first: tuple[str, int, bytes], second: tuple[str, int, bytes], **header: Any
) -> list[pb.UploadSamplesRequest]:
    """An upload of two files where only the second header carries `header`."""
    parts = upload_parts(dataset_id, [first])
    then = upload_parts(dataset_id, [second], **header)
    return [*parts, pb.UploadSamplesRequest(next_file=then[0].header), *then[1:]]


@pytest.mark.parametrize("case", list(CASES))
async def test_bad_upload_is_refused_and_nothing_is_stored(strict: Running, case: str) -> None:
    bad = CASES[case]
    dataset = await create(strict.stub, scenario=bad.scenario)
    before = await stored_objects(strict)
    # A valid file first in the same upload, of images no other case uploads: it must not be kept either.
    good = image_zip(2, seed=list(CASES).index(case) + 1) if bad.scenario == IMAGE else None
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        if good is None:
            await upload(strict.stub, dataset.id, bad.name, bad.format, bad.content, **bad.header)
        else:
            parts = two_file_parts(
                dataset.id, ("good.zip", ARCHIVE, good), (bad.name, bad.format, bad.content), **bad.header
            )
            await strict.stub.UploadSamples(iter(parts))
    assert refused.value.code() == bad.code, refused.value.details()
    assert bad.word.lower() in refused.value.details().lower(), refused.value.details()
    await assert_nothing_stored(strict, dataset.id, before)


async def test_an_upload_of_too_many_files_is_refused_at_the_file_past_the_limit(strict: Running) -> None:
    dataset = await create(strict.stub, scenario=ANOMALY)
    before = await stored_objects(strict)
    files: list[tuple[str, int, bytes]] = [
        (f"f-{n:04d}.csv", pb.UPLOAD_FORMAT_CSV, _csv(range(3), first=n * 10)) for n in range(12)
    ]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await strict.stub.UploadSamples(iter(upload_parts(dataset.id, files)))
    assert refused.value.code() == INVALID, refused.value.details()
    # The ninth header, not the end of the upload, is where it stopped.
    assert "f-0008.csv: the upload holds more than the limit of 8 files" in refused.value.details()
    await assert_nothing_stored(strict, dataset.id, before)


async def test_an_upload_over_its_total_size_is_refused_as_it_arrives(strict: Running) -> None:
    dataset = await create(strict.stub, scenario=ANOMALY)
    before = await stored_objects(strict)
    # Each file is under the 64 KiB per-file limit; the third takes the upload past 160 KiB.
    files: list[tuple[str, int, bytes]] = [
        (f"big-{n}.csv", pb.UPLOAD_FORMAT_CSV, _csv(range(n * 4000, n * 4000 + 3500))) for n in range(5)
    ]
    assert all(50_000 < len(data) < 64 * 1024 for _, _, data in files)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await strict.stub.UploadSamples(iter(upload_parts(dataset.id, files)))
    assert refused.value.code() == INVALID, refused.value.details()
    assert "big-2.csv: the upload holds more than the limit of 163840 bytes in all" in refused.value.details()
    await assert_nothing_stored(strict, dataset.id, before)


async def test_a_refusal_after_stored_batches_leaves_no_blobs(strict: Running) -> None:
    """Three batches of 256 samples are read before the service waits for the first to be stored; the
    malformed file comes after them, so blobs are in the bucket when the upload is refused."""
    dataset = await create(strict.stub, scenario=ANOMALY)
    before = await stored_objects(strict)
    good = _csv(range(900), first=7_000_000.0)
    bad = b"temp,label\n1.5,normal\nabc,normal,extra\n"
    parts = upload_parts(
        dataset.id, [("good.csv", pb.UPLOAD_FORMAT_CSV, good), ("bad.csv", pb.UPLOAD_FORMAT_CSV, bad)]
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await strict.stub.UploadSamples(iter(parts))
    assert refused.value.code() == INVALID and "bad.csv row 3" in refused.value.details()
    await assert_nothing_stored(strict, dataset.id, before)


async def test_a_name_clash_found_after_storing_takes_the_new_blobs_back(strict: Running) -> None:
    """The clash with the draft is found only when the rows are written, after every blob is stored:
    three images (blob objects) and a CSV of 900 rows (packs)."""
    images = await create(strict.stub)
    await upload(strict.stub, images.id, "a.zip", ARCHIVE, image_zip(3))
    series = await create(strict.stub, scenario=ANOMALY)
    await upload(strict.stub, series.id, "s.csv", pb.UPLOAD_FORMAT_CSV, _csv(range(900), first=1.0))
    before = await stored_objects(strict)
    clashing = (
        (images.id, "b.zip", ARCHIVE, image_zip(3, seed=7), 3),
        (series.id, "s.csv", pb.UPLOAD_FORMAT_CSV, _csv(range(900), first=0.5), 900),
    )
    for dataset_id, name, fmt, data, count in clashing:
        with pytest.raises(grpc.aio.AioRpcError) as clash:
            await upload(strict.stub, dataset_id, name, fmt, data)
        assert clash.value.code() is grpc.StatusCode.ALREADY_EXISTS, clash.value.details()
        assert len(await all_samples(strict.stub, dataset_id)) == count
    assert await stored_objects(strict) == before


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
