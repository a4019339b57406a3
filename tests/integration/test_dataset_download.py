"""Downloads choose compression per member, read blobs ahead, and refuse a blob that changed in S3."""

from __future__ import annotations

import asyncio
import base64
import gzip
import io
import os
import shutil
import tarfile
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from mlops.api.common.v1 import common_pb2
from mlops.api.dataset.v1 import dataset_pb2 as pb
from mlops.kernel.objectstore import blob_key
from mlops.stack.servers import NatsServer
from tests.fixtures.s3 import S3Endpoint
from tests.integration.test_dataset_api import (
    Running,
    archive_members,
    create,
    download,
    start_dataset_service,
    upload_parts,
)

LOGS = common_pb2.SCENARIO_LOG_CLUSTERING
FILE = pb.UPLOAD_FORMAT_FILE


@pytest.fixture
async def service(tmp_path: Path, nats_server: NatsServer, s3_server: S3Endpoint) -> AsyncIterator[Running]:
    # A window of 2 over 5 blobs: blobs are read ahead and handed over in order.
    async for started in start_dataset_service(
        tmp_path, nats_server, s3_server, download_prefetch_window=2, download_chunk_bytes=64 * 1024
    ):
        yield started


def _texts() -> dict[str, bytes]:
    lines = b"".join(
        b"2026-11-23 12:00:%02d INFO request served in 12 ms\n" % (n % 60) for n in range(20_000)
    )
    noise = base64.b64encode(os.urandom(300_000))  # deflate saves about a quarter: not worth it
    return {"a.txt": lines, "b.txt": noise, "c.txt": lines[:1000], "d.txt": noise[:5000], "e.txt": b"x"}


async def _published(service: Running) -> tuple[str, dict[str, bytes]]:
    stub = service.stub
    dataset = await create(stub, scenario=LOGS)
    texts = _texts()
    files: list[tuple[str, int, bytes]] = [(name, FILE, data) for name, data in texts.items()]
    await stub.UploadSamples(iter(upload_parts(dataset.id, files)))
    await stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id))
    return dataset.id, texts


async def test_compressible_members_are_deflated_and_the_rest_stored(service: Running) -> None:
    dataset_id, texts = await _published(service)
    zipped = await download(service.stub, dataset_id, 1, pb.ARCHIVE_FORMAT_ZIP)
    with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
        kinds = {info.filename: info.compress_type for info in archive.infolist()}
    assert kinds["samples/a.txt"] == zipfile.ZIP_DEFLATED
    assert kinds["samples/b.txt"] == kinds["samples/e.txt"] == zipfile.ZIP_STORED
    packed = await download(service.stub, dataset_id, 1, pb.ARCHIVE_FORMAT_TAR_GZ)
    # Several gzip members, read as one stream by gzip and tarfile alike.
    assert len(packed) < sum(len(data) for data in texts.values())
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(packed))) as archive:
        assert archive.getnames()[0] == "manifest.json"
    for fmt, data in ((pb.ARCHIVE_FORMAT_ZIP, zipped), (pb.ARCHIVE_FORMAT_TAR_GZ, packed)):
        members = archive_members(data, fmt)
        assert {name: members[f"samples/{name}"] for name in texts} == texts


async def test_replies_are_chunks_and_the_first_names_the_file(service: Running) -> None:
    dataset_id, _ = await _published(service)
    request = pb.DownloadVersionRequest(dataset_id=dataset_id, number=1, format=pb.ARCHIVE_FORMAT_ZIP)
    chunks = [chunk async for chunk in service.stub.DownloadVersion(request)]
    assert len(chunks) > 1  # chunks of 64 KiB here
    assert chunks[0].file_name == f"{dataset_id}-v1.zip"
    assert all(chunk.file_name == "" and chunk.data for chunk in chunks[1:])


@pytest.mark.skipif(not (shutil.which("tar") and shutil.which("unzip")), reason="needs tar and unzip")
async def test_archives_are_read_by_tar_and_unzip(service: Running, tmp_path: Path) -> None:
    dataset_id, texts = await _published(service)
    for fmt, name, command in (
        (pb.ARCHIVE_FORMAT_TAR_GZ, "v1.tar.gz", ["tar", "-xzf", "v1.tar.gz", "-C"]),
        (pb.ARCHIVE_FORMAT_ZIP, "v1.zip", ["unzip", "-q", "v1.zip", "-d"]),
    ):
        (tmp_path / name).write_bytes(await download(service.stub, dataset_id, 1, fmt))
        target = tmp_path / name.replace(".", "-")
        target.mkdir()
        unpacked = await asyncio.create_subprocess_exec(*command, str(target), cwd=tmp_path)
        assert await unpacked.wait() == 0
        assert {path: (target / "samples" / path).read_bytes() for path in texts} == texts


async def test_a_blob_changed_in_the_store_fails_the_download(service: Running) -> None:
    dataset_id, texts = await _published(service)
    samples = await service.stub.ListSamples(pb.ListSamplesRequest(dataset_id=dataset_id, version=1))
    victim = next(s for s in samples.samples if s.name == "b.txt")
    forged = bytes(len(texts["b.txt"]))
    service.blobs.client.put_object(
        bucket_name=service.blobs.bucket,
        object_name=blob_key(victim.content_sha256),
        data=io.BytesIO(forged),
        length=len(forged),
    )
    for fmt in (pb.ARCHIVE_FORMAT_TAR_GZ, pb.ARCHIVE_FORMAT_ZIP):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await download(service.stub, dataset_id, 1, fmt)
        assert refused.value.code() is grpc.StatusCode.DATA_LOSS
        assert "b.txt" in (refused.value.details() or "")
