"""A download reads the version's entries a page at a time: the archive is whole and in order, the
service never holds more than a page of entries, and entries that no longer hash to the version's
digest end the download with DATA_LOSS before any byte leaves."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy import update

from mlops.api.common.v1 import common_pb2
from mlops.api.dataset.v1 import dataset_pb2 as pb
from mlops.kernel.db import Database
from mlops.stack.servers import NatsServer
from services.dataset.manifests import load_manifest_bytes
from services.dataset.store import SqlDatasetUnit
from services.dataset.store.tables import version_entries
from tests.fixtures.s3 import S3Endpoint
from tests.integration.test_dataset_api import Running, archive_members, create, start_dataset_service, upload

TEXTS = common_pb2.SCENARIO_TEXT_CLASSIFICATION
PAGE = 50


@pytest.fixture
async def service(
    tmp_path: Path, nats_server: NatsServer, s3_server: S3Endpoint, database_url: str
) -> AsyncIterator[Running]:
    async for started in start_dataset_service(
        tmp_path,
        nats_server,
        s3_server,
        database_url=database_url,
        download_page_entries=PAGE,
        download_chunk_bytes=64 * 1024,
    ):
        yield started


async def _published(service: Running, count: int, metadata: dict[str, str] | None = None) -> str:
    dataset = await create(service.stub, scenario=TEXTS)
    lines = (
        json.dumps(
            {
                "name": f"m-{n:05d}",
                "text": f"message number {n} " * 3,
                "label": "ab"[n % 2],
                "metadata": metadata or {},
            }
        )
        for n in range(count)
    )
    await upload(service.stub, dataset.id, "m.jsonl", pb.UPLOAD_FORMAT_JSONL, "\n".join(lines).encode())
    await service.stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id))
    return dataset.id


async def test_the_archive_holds_every_page_in_manifest_order(service: Running) -> None:
    count = PAGE * 3 + 7  # pages end mid-way, and one is short
    dataset_id = await _published(service, count)
    version = await service.stub.GetVersion(pb.GetVersionRequest(dataset_id=dataset_id, number=1))
    stored_manifest = await load_manifest_bytes(service.blobs, version.manifest_digest)
    for fmt in (pb.ARCHIVE_FORMAT_TAR_GZ, pb.ARCHIVE_FORMAT_ZIP):
        chunks = [
            c.data
            async for c in service.stub.DownloadVersion(
                pb.DownloadVersionRequest(dataset_id=dataset_id, number=1, format=fmt)
            )
        ]
        members = archive_members(b"".join(chunks), fmt)
        names = list(members)
        assert names[0] == "manifest.json" and members["manifest.json"] == stored_manifest
        assert names[1:] == [f"samples/m-{n:05d}" for n in range(count)]


async def test_the_service_holds_a_page_of_entries_at_a_time(
    service: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory stays flat in the number of samples: the download never loads the version whole, only
    pages of entries (the archive writers' own memory is tested in tests/dataset/test_archive.py)."""
    asked: list[int] = []
    real_page = SqlDatasetUnit.manifest_entries_after

    async def page(self: SqlDatasetUnit, dataset_id: str, number: int, after: str | None, limit: int) -> Any:
        asked.append(limit)
        return await real_page(self, dataset_id, number, after, limit)

    async def whole(*args: Any) -> Any:
        raise AssertionError("the download loaded the whole version")

    dataset_id = await _published(service, PAGE * 4 + 1)
    monkeypatch.setattr(SqlDatasetUnit, "manifest_entries_after", page)
    monkeypatch.setattr(SqlDatasetUnit, "version_manifest", whole)
    for fmt in (pb.ARCHIVE_FORMAT_TAR_GZ, pb.ARCHIVE_FORMAT_ZIP):
        asked.clear()
        chunks = [
            c.data
            async for c in service.stub.DownloadVersion(
                pb.DownloadVersionRequest(dataset_id=dataset_id, number=1, format=fmt)
            )
        ]
        assert len(archive_members(b"".join(chunks), fmt)) == PAGE * 4 + 2
        # Two passes (manifest.json, then the blobs) of five pages and an empty one each.
        assert asked == [PAGE] * 12


async def test_entries_that_no_longer_match_the_digest_refuse_the_download(service: Running) -> None:
    dataset_id = await _published(service, PAGE + 5)
    db = Database(service.settings.resolved_database_url())
    try:
        async with db.transaction() as session:
            await session.execute(
                update(version_entries)
                .where(version_entries.c.dataset_id == dataset_id, version_entries.c.name == "m-00003")
                .values(purpose="testing")
            )
    finally:
        await db.dispose()
    for fmt in (pb.ARCHIVE_FORMAT_TAR_GZ, pb.ARCHIVE_FORMAT_ZIP):
        received = 0
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for chunk in service.stub.DownloadVersion(
                pb.DownloadVersionRequest(dataset_id=dataset_id, number=1, format=fmt)
            ):
                received += len(chunk.data)
        assert refused.value.code() is grpc.StatusCode.DATA_LOSS
        assert "no longer hash to its manifest digest" in (refused.value.details() or "")
        assert received == 0
