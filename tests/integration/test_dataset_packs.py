"""Small blobs of bulk uploads are stored in pack objects: read back by range, collected whole once
no member is referenced, rewritten once most of one is garbage, and never lost to a collection
racing uploads."""

from __future__ import annotations

import asyncio
import hashlib
import urllib.request
from collections.abc import AsyncIterator, Collection
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from mlops.api.dataset.v1 import dataset_pb2 as pb
from mlops.kernel.objectstore import blob_key, safe_key
from mlops.stack.servers import NatsServer
from services.dataset.download_plan import MAX_EXPIRY_SECONDS
from services.dataset.packs import PACK_PREFIX
from services.dataset.store import SqlDatasetStore
from services.dataset.store.tables import retired_packs
from tests.fixtures.s3 import S3Endpoint
from tests.integration.test_dataset_api import (
    Running,
    all_samples,
    archive_members,
    create,
    distinct_png,
    download,
    image_zip,
    start_dataset_service,
    upload,
)

ARCHIVE = pb.UPLOAD_FORMAT_IMAGE_ARCHIVE


@pytest.fixture
async def service(
    tmp_path: Path, nats_server: NatsServer, s3_server: S3Endpoint, database_url: str
) -> AsyncIterator[Running]:
    # Packs from 4 new blobs on; no grace period, so collections race uploads for real.
    async for started in start_dataset_service(
        tmp_path, nats_server, s3_server, gc_grace_seconds=0, pack_min_blobs=4, database_url=database_url
    ):
        yield started


async def _packs(service: Running) -> dict[str, int]:
    return {info.key: info.size async for info in service.blobs.iter_objects(PACK_PREFIX)}


async def _blob_objects(service: Running) -> set[str]:
    return {info.sha256 async for info in service.blobs.iter_blobs()}


async def _readable(service: Running, digests: Collection[str]) -> set[str]:
    """The digests whose bytes can be read back and hash right, from a pack or a blob object."""
    assert service.runtime.db is not None
    async with SqlDatasetStore(service.runtime.db).unit() as uow:
        packed = await uow.packed_locations(digests)
    client, bucket = service.blobs.client, service.blobs.bucket

    def read(digest: str) -> bytes:
        where = packed.get(digest)
        if where is None:
            response = client.get_object(bucket_name=bucket, object_name=blob_key(digest))
        else:
            response = client.get_object(
                bucket_name=bucket,
                object_name=safe_key(where.pack_key),
                offset=where.offset,
                length=where.length,
            )
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    found = set()
    for digest in digests:
        try:
            data = await asyncio.to_thread(read, digest)
        except Exception:
            continue
        if hashlib.sha256(data).hexdigest() == digest:
            found.add(digest)
    return found


async def test_a_bulk_upload_is_one_pack_and_downloads_intact(service: Running) -> None:
    stub = service.stub
    dataset = await create(stub)
    added = await upload(stub, dataset.id, "a.zip", ARCHIVE, image_zip(30))
    assert added.new_blobs == 30
    assert len(await _packs(service)) == 1 and await _blob_objects(service) == set()
    # Below the threshold: blob objects as before.
    small = await upload(stub, dataset.id, "b.zip", ARCHIVE, image_zip(3, start=100))
    assert small.new_blobs == 3 and len(await _blob_objects(service)) == 3
    await stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id))
    for fmt in (pb.ARCHIVE_FORMAT_TAR_GZ, pb.ARCHIVE_FORMAT_ZIP):
        members = archive_members(await download(stub, dataset.id, 1, fmt), fmt)
        assert len(members) == 34
        assert members["samples/dog/img-00001.png"] == distinct_png(1)
        assert members["samples/cat/img-00100.png"] == distinct_png(100)


async def test_collector_deletes_a_pack_only_when_no_member_is_referenced(service: Running) -> None:
    stub = service.stub
    kept = await create(stub)
    await upload(stub, kept.id, "a.zip", ARCHIVE, image_zip(8))
    await stub.PublishVersion(pb.PublishVersionRequest(dataset_id=kept.id))
    dropped = await create(stub)
    await upload(stub, dropped.id, "b.zip", ARCHIVE, image_zip(6, start=200))
    partly = await create(stub)
    await upload(stub, partly.id, "c.zip", ARCHIVE, image_zip(5, start=300))
    assert len(await _packs(service)) == 3
    await stub.DeleteDataset(pb.DeleteDatasetRequest(dataset_id=dropped.id))
    # One member of the third pack goes; the other four keep the whole pack.
    first = (await all_samples(stub, partly.id))[0]
    await stub.DeleteSample(pb.DeleteSampleRequest(dataset_id=partly.id, sample_id=first.id))
    await asyncio.sleep(1.1)  # object times have a resolution of a second
    preview = await stub.CollectGarbage(pb.CollectGarbageRequest(dry_run=True))
    assert preview.blobs_removed == 6 and len(await _packs(service)) == 3
    report = await stub.CollectGarbage(pb.CollectGarbageRequest())
    assert report.blobs_removed == 6 and report.bytes_freed == preview.bytes_freed > 0
    assert len(await _packs(service)) == 2
    left = {s.content_sha256 for s in await all_samples(stub, partly.id)}
    assert await _readable(service, left) == left
    members = archive_members(await download(stub, kept.id, 1, pb.ARCHIVE_FORMAT_ZIP), pb.ARCHIVE_FORMAT_ZIP)
    assert len(members) == 9


async def test_collections_racing_packed_uploads_lose_nothing(service: Running) -> None:
    stub = service.stub
    dataset = await create(stub)
    data = image_zip(40, start=500)
    await upload(stub, dataset.id, "seed.zip", ARCHIVE, data)
    for round_ in range(3):
        for sample in await all_samples(stub, dataset.id):
            await stub.DeleteSample(pb.DeleteSampleRequest(dataset_id=dataset.id, sample_id=sample.id))
        await asyncio.sleep(1.1)
        collecting = [stub.CollectGarbage(pb.CollectGarbageRequest()) for _ in range(2)]
        uploading = upload(stub, dataset.id, f"r{round_}.zip", ARCHIVE, data)
        outcomes = await asyncio.gather(uploading, *collecting, return_exceptions=True)
        assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
        referenced = {s.content_sha256 for s in await all_samples(stub, dataset.id)}
        assert len(referenced) == 40 and await _readable(service, referenced) == referenced


def _fetch(entry: pb.DownloadPlanEntry) -> bytes:
    headers = {"Range": f"bytes={entry.offset}-{entry.offset + entry.length - 1}"} if entry.ranged else {}
    with urllib.request.urlopen(urllib.request.Request(entry.url, headers=headers), timeout=10) as reply:
        return bytes(reply.read())


async def _backdate_retirements(service: Running, seconds: float) -> None:
    """As if every retired pack had been retired `seconds` earlier."""
    assert service.runtime.db is not None
    async with service.runtime.db.engine.begin() as connection:
        rows = (await connection.execute(select(retired_packs))).all()
        for row in rows:
            await connection.execute(
                update(retired_packs)
                .where(retired_packs.c.pack_key == row.pack_key)
                .values(retired_at=row.retired_at - timedelta(seconds=seconds))
            )


async def test_collector_rewrites_a_pack_that_is_mostly_garbage(service: Running) -> None:
    stub = service.stub
    dataset = await create(stub)
    await upload(stub, dataset.id, "a.zip", ARCHIVE, image_zip(10))
    await stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id))
    plan = await stub.GetVersionDownloadPlan(
        pb.GetVersionDownloadPlanRequest(dataset_id=dataset.id, number=1)
    )
    [old_pack] = await _packs(service)
    # Seven of ten go from the draft and the version: 70% of the pack is garbage.
    await stub.DeleteVersion(pb.DeleteVersionRequest(dataset_id=dataset.id, number=1))
    samples = await all_samples(stub, dataset.id)
    for sample in samples[:7]:
        await stub.DeleteSample(pb.DeleteSampleRequest(dataset_id=dataset.id, sample_id=sample.id))
    kept = {s.content_sha256 for s in samples[7:]}
    garbage_bytes = sum(s.size_bytes for s in samples[:7])
    await asyncio.sleep(1.1)

    preview = await stub.CollectGarbage(pb.CollectGarbageRequest(dry_run=True))
    assert (preview.blobs_removed, preview.bytes_freed, preview.packs_rewritten) == (7, garbage_bytes, 1)
    assert list(await _packs(service)) == [old_pack]
    report = await stub.CollectGarbage(pb.CollectGarbageRequest())
    assert (report.blobs_removed, report.bytes_freed, report.packs_rewritten) == (7, garbage_bytes, 1)

    packs = await _packs(service)
    [new_pack] = set(packs) - {old_pack}
    assert packs[new_pack] == packs[old_pack] - garbage_bytes
    assert service.runtime.db is not None
    async with SqlDatasetStore(service.runtime.db).unit() as uow:
        assert {where.pack_key for where in (await uow.packed_locations(kept)).values()} == {new_pack}
        assert await uow.pack_contents(old_pack) == []
    assert await _readable(service, kept) == kept
    # Links signed before the rewrite still work: the old pack stays while they may be in use.
    for entry in plan.entries:
        assert hashlib.sha256(await asyncio.to_thread(_fetch, entry)).hexdigest() == entry.sha256
    await asyncio.sleep(1.1)
    again = await stub.CollectGarbage(pb.CollectGarbageRequest())
    assert (again.blobs_removed, again.packs_rewritten) == (0, 0) and old_pack in await _packs(service)

    # Once every link signed before it has expired, the old pack goes (its bytes counted already).
    await _backdate_retirements(service, MAX_EXPIRY_SECONDS)
    last = await stub.CollectGarbage(pb.CollectGarbageRequest())
    assert (last.blobs_removed, last.bytes_freed) == (0, 0)
    assert set(await _packs(service)) == {new_pack}
    await stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id))
    members = archive_members(
        await download(stub, dataset.id, 2, pb.ARCHIVE_FORMAT_ZIP), pb.ARCHIVE_FORMAT_ZIP
    )
    assert len(members) == 4  # the three samples and the manifest


async def test_pack_rewrites_racing_uploads_lose_nothing(service: Running) -> None:
    stub = service.stub
    rewritten = 0
    for round_ in range(3):
        dataset = await create(stub)
        first = 1000 * (round_ + 1)
        await upload(stub, dataset.id, "seed.zip", ARCHIVE, image_zip(40, start=first))
        # Thirty of forty go, and five of those come back while two collections run: whichever
        # comes first, the pack is mostly garbage and is rewritten.
        for sample in await all_samples(stub, dataset.id):
            if int(sample.name.rsplit("-", 1)[1].split(".")[0]) >= first + 10:
                await stub.DeleteSample(pb.DeleteSampleRequest(dataset_id=dataset.id, sample_id=sample.id))
        await asyncio.sleep(1.1)
        collecting = [stub.CollectGarbage(pb.CollectGarbageRequest()) for _ in range(2)]
        uploading = upload(stub, dataset.id, "back.zip", ARCHIVE, image_zip(5, start=first + 10))
        outcomes = await asyncio.gather(uploading, *collecting, return_exceptions=True)
        assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
        rewritten += sum(o.packs_rewritten for o in outcomes if isinstance(o, pb.CollectGarbageResponse))
        referenced = {s.content_sha256 for s in await all_samples(stub, dataset.id)}
        assert len(referenced) == 15 and await _readable(service, referenced) == referenced
        await _backdate_retirements(service, MAX_EXPIRY_SECONDS)
    assert rewritten >= 3
    await asyncio.sleep(1.1)
    await stub.CollectGarbage(pb.CollectGarbageRequest())
    referenced = {s.content_sha256 async for s in _every_sample(stub)}
    assert len(referenced) == 45 and await _readable(service, referenced) == referenced


async def _every_sample(stub: Any) -> AsyncIterator[pb.Sample]:
    for dataset in (await stub.ListDatasets(pb.ListDatasetsRequest())).datasets:
        for sample in await all_samples(stub, dataset.id):
            yield sample
