"""Version users learned from events protect versions; the garbage collector frees only garbage,
even while uploads run."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.message import Message

from mlops.api.dataset.v1 import dataset_pb2 as pb
from mlops.api.events.v1 import events_pb2
from mlops.kernel.events import build_event, subject_for
from mlops.kernel.events.envelope import HEADER_MSG_ID
from mlops.kernel.events.testing import eventually
from mlops.stack.servers import NatsServer
from services.dataset.domain import utcnow
from services.dataset.manifests import load_manifest_bytes, save_manifest
from services.dataset.store import SqlDatasetStore
from tests.fixtures.s3 import S3Endpoint
from tests.integration.test_dataset_api import (
    Running,
    all_samples,
    create,
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
    # No grace period: the collector's safety rests on reservations and doomed marks alone.
    async for started in start_dataset_service(
        tmp_path, nats_server, s3_server, gc_grace_seconds=0, database_url=database_url
    ):
        yield started


async def _announce(service: Running, source: str, payload: Message, event_id: str | None = None) -> None:
    """Publish as another service's relay would: the event id is NATS's dedup key."""
    envelope = build_event(payload, source=source, event_id=event_id)
    await service.bus.js.publish(
        subject_for(source, payload), envelope.to_json(), headers={HEADER_MSG_ID: envelope.id}
    )


async def _recorded_checksums(service: Running, digests: set[str]) -> dict[str, int]:
    assert service.runtime.db is not None
    async with SqlDatasetStore(service.runtime.db).unit() as uow:
        return await uow.checksums(digests)


async def _used_by(service: Running, dataset_id: str, number: int) -> list[str]:
    version = await service.stub.GetVersion(pb.GetVersionRequest(dataset_id=dataset_id, number=number))
    return list(version.used_by)


async def test_used_versions_cannot_be_deleted_until_their_users_go(service: Running) -> None:
    stub = service.stub
    dataset = await create(stub)
    await upload(stub, dataset.id, "a.zip", ARCHIVE, image_zip(4))
    await stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id))
    run_id = uuid.uuid4().hex[:8]
    queued = events_pb2.RunQueued(run_id=run_id, dataset_id=dataset.id, dataset_version=1)
    await _announce(service, "training", queued)
    await _announce(service, "training", queued)
    model = events_pb2.ModelVersionRegistered(
        model_name="pets", number=3, dataset_id=dataset.id, dataset_version=1
    )
    await _announce(service, "registry", model)

    async def both_known() -> bool:
        return await _used_by(service, dataset.id, 1) == ["model:pets/v3", f"run:{run_id}"]

    await eventually(both_known, within=15)
    for call, request in (
        (stub.DeleteVersion, pb.DeleteVersionRequest(dataset_id=dataset.id, number=1)),
        (stub.DeleteDataset, pb.DeleteDatasetRequest(dataset_id=dataset.id)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(request)
        assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert f"run:{run_id}" in refused.value.details() and "model:pets/v3" in refused.value.details()
    gone = events_pb2.ModelVersionDeleted(
        model_name="pets", number=3, dataset_id=dataset.id, dataset_version=1
    )
    await _announce(service, "registry", gone)

    async def only_run() -> bool:
        return await _used_by(service, dataset.id, 1) == [f"run:{run_id}"]

    await eventually(only_run, within=15)


@pytest.mark.parametrize("rpc", ["DeleteVersion", "DeleteDataset"])
async def test_a_use_recorded_while_a_delete_runs_is_never_lost(service: Running, rpc: str) -> None:
    """The consumer records a use in a transaction of its own; a delete that checks the users at that
    moment waits for it, then refuses (the use could otherwise name a version deleted under it)."""
    stub = service.stub
    dataset = await create(stub)
    await upload(stub, dataset.id, "a.zip", ARCHIVE, image_zip(2))
    await stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id))
    assert service.runtime.db is not None
    store = SqlDatasetStore(service.runtime.db)
    requests = {
        "DeleteVersion": pb.DeleteVersionRequest(dataset_id=dataset.id, number=1),
        "DeleteDataset": pb.DeleteDatasetRequest(dataset_id=dataset.id),
    }
    async with store.unit() as uow:
        assert await uow.add_version_user(dataset.id, 1, "run:racing", utcnow())
        deleting = asyncio.ensure_future(getattr(stub, rpc)(requests[rpc]))
        await asyncio.sleep(0.5)
        assert not deleting.done(), "the delete waits for the use being recorded"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await deleting
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "run:racing" in (refused.value.details() or "")
    assert await _used_by(service, dataset.id, 1) == ["run:racing"]


async def _blob_digests(service: Running) -> set[str]:
    return {info.sha256 async for info in service.blobs.iter_blobs()}


async def test_collector_frees_unreferenced_blobs_and_never_a_versions(service: Running) -> None:
    stub = service.stub
    kept = await create(stub)
    await upload(stub, kept.id, "a.zip", ARCHIVE, image_zip(5))
    v1 = await stub.PublishVersion(pb.PublishVersionRequest(dataset_id=kept.id))
    await upload(stub, kept.id, "b.zip", ARCHIVE, image_zip(3, start=100))
    for sample in await all_samples(stub, kept.id):
        await stub.DeleteSample(pb.DeleteSampleRequest(dataset_id=kept.id, sample_id=sample.id))
    dropped = await create(stub)
    await upload(stub, dropped.id, "c.zip", ARCHIVE, image_zip(2, start=200))
    await stub.DeleteDataset(pb.DeleteDatasetRequest(dataset_id=dropped.id))
    version_blobs = {s.content_sha256 for s in await all_samples(stub, kept.id, 1)}
    before = await _blob_digests(service)
    assert len(before) == 5 + 3 + 2
    # SeaweedFS stamps objects to the second: the grace period of 0 must see them in the past.
    await asyncio.sleep(1.1)
    preview = await stub.CollectGarbage(pb.CollectGarbageRequest(dry_run=True))
    assert preview.blobs_removed == 5 and await _blob_digests(service) == before
    # Two collections at once (two admins, or a schedule and a person) take turns: each blob goes once.
    reports = await asyncio.gather(
        stub.CollectGarbage(pb.CollectGarbageRequest()), stub.CollectGarbage(pb.CollectGarbageRequest())
    )
    assert sorted(r.blobs_removed for r in reports) == [0, 5]
    report = max(reports, key=lambda r: r.blobs_removed)
    assert report.bytes_freed == preview.bytes_freed > 0
    assert await _blob_digests(service) == version_blobs
    # The collected blobs' CRC-32 rows went with them; the kept ones' stay.
    assert set(await _recorded_checksums(service, before)) == version_blobs
    assert (await stub.CollectGarbage(pb.CollectGarbageRequest())).blobs_removed == 0
    assert len(await download(stub, kept.id, 1, pb.ARCHIVE_FORMAT_ZIP)) > 0
    assert await load_manifest_bytes(service.blobs, v1.manifest_digest)
    # A manifest left by a publish that never committed is swept; a version's is not.
    orphan = await save_manifest(service.blobs, b'{"format":1,"samples":[]}', "0" * 64)
    await asyncio.sleep(1.1)
    swept = await stub.CollectGarbage(pb.CollectGarbageRequest())
    assert (swept.blobs_removed, swept.bytes_freed) == (1, orphan)
    assert await load_manifest_bytes(service.blobs, v1.manifest_digest)


async def test_collection_during_uploads_loses_nothing(service: Running) -> None:
    """Uploads of contents that are garbage right now race collections; every committed sample
    keeps its blob."""
    stub = service.stub
    dataset = await create(stub)
    data = image_zip(40, start=300)
    await upload(stub, dataset.id, "seed.zip", ARCHIVE, data)
    for round_ in range(3):
        for sample in await all_samples(stub, dataset.id):
            await stub.DeleteSample(pb.DeleteSampleRequest(dataset_id=dataset.id, sample_id=sample.id))
        await asyncio.sleep(1.1)
        collecting = [stub.CollectGarbage(pb.CollectGarbageRequest()) for _ in range(2)]
        uploading = upload(stub, dataset.id, f"r{round_}.zip", ARCHIVE, data)
        outcomes = await asyncio.gather(uploading, *collecting, return_exceptions=True)
        assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
        stored = await _blob_digests(service)
        referenced = {s.content_sha256 for s in await all_samples(stub, dataset.id)}
        assert len(referenced) == 40 and referenced <= stored


@pytest.fixture
async def collecting_service(
    tmp_path: Path, nats_server: NatsServer, s3_server: S3Endpoint
) -> AsyncIterator[Running]:
    async for started in start_dataset_service(
        tmp_path, nats_server, s3_server, gc_grace_seconds=0, gc_interval_seconds=0.5
    ):
        yield started


async def test_the_service_collects_by_itself(collecting_service: Running) -> None:
    service = collecting_service
    stub = service.stub
    dataset = await create(stub)
    await upload(stub, dataset.id, "a.zip", ARCHIVE, image_zip(3, seed=11))
    dropped = {s.content_sha256 for s in await all_samples(stub, dataset.id)}
    assert dropped <= await _blob_digests(service)
    await stub.DeleteSamples(
        pb.DeleteSamplesRequest(dataset_id=dataset.id, filter=pb.SampleFilter(name_prefix="cat/"))
    )
    kept = {s.content_sha256 for s in await all_samples(stub, dataset.id)}
    dropped -= kept

    async def collected() -> bool:
        held = await _blob_digests(service)
        return not dropped & held and kept <= held

    await eventually(collected, within=15)
