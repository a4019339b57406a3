"""The dataset service end to end: a real runtime with SQLite, NATS, SeaweedFS and the interceptor.

Also holds the fixtures and helpers the other test_dataset_* modules import.
"""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from nats.js.api import DeliverPolicy

from mlops.api.common.v1 import common_pb2
from mlops.api.dataset.v1 import dataset_pb2 as pb
from mlops.api.dataset.v1 import dataset_pb2_grpc
from mlops.kernel.events import EventBus, decode
from mlops.kernel.grpcx import open_channel
from mlops.kernel.objectstore import ObjectStore
from mlops.kernel.runtime import ServiceRuntime
from mlops.kernel.settings import S3Settings
from mlops.stack.servers import NatsServer
from services.dataset.demo.png import Canvas
from services.dataset.main import build
from services.dataset.manifests import load_manifest_bytes, manifest_key
from services.dataset.settings import DatasetSettings
from tests.dataset.builders import png, zip_bytes
from tests.fixtures.s3 import S3Endpoint, unique_bucket
from tests.integration.test_grpc_auth import ADMIN, start_identity

IMAGES = common_pb2.SCENARIO_IMAGE_CLASSIFICATION


@dataclass
class Running:
    runtime: ServiceRuntime
    stub: dataset_pb2_grpc.DatasetServiceStub
    blobs: ObjectStore
    bus: EventBus

    @property
    def settings(self) -> DatasetSettings:
        return self.runtime.settings  # type: ignore[return-value]


async def start_dataset_service(
    tmp_path: Path, nats: NatsServer, s3: S3Endpoint, s3_settings: S3Settings | None = None, **overrides: Any
) -> AsyncIterator[Running]:
    identity, identity_address, _ = await start_identity()
    settings = DatasetSettings(
        data_dir=tmp_path / "data",
        grpc_port=0,
        identity_address=identity_address,
        nats_url=nats.url,
        shutdown_grace_seconds=0.5,
        log_json=False,
        s3=s3_settings or s3.settings(unique_bucket()),
        **overrides,
    )
    runtime = build(settings)
    await runtime.start()
    bus = EventBus(nats.url, name=f"test-{uuid.uuid4().hex[:8]}")
    await bus.connect(wait=True)
    blobs = ObjectStore(settings.s3)
    try:
        async with open_channel(f"127.0.0.1:{runtime.port}", token=ADMIN, default_timeout=30) as channel:
            yield Running(runtime, dataset_pb2_grpc.DatasetServiceStub(channel), blobs, bus)
    finally:
        await bus.close()
        await runtime.stop()
        await identity.stop(0)


@pytest.fixture
async def running(
    tmp_path: Path, nats_server: NatsServer, s3_server: S3Endpoint, database_url: str
) -> AsyncIterator[Running]:
    """The service on SQLite and on PostgreSQL."""
    async for service in start_dataset_service(
        tmp_path, nats_server, s3_server, gc_grace_seconds=0, database_url=database_url
    ):
        yield service


def distinct_png(n: int, seed: int = 0) -> bytes:
    return Canvas(8, 6, (n % 256, n // 256 % 256, seed % 256)).png()


def image_zip(count: int, *, start: int = 0, labels: Iterable[str] = ("cat", "dog"), seed: int = 0) -> bytes:
    """An ImageFolder zip of distinct small PNGs: `<label>/img-<n>.png`."""
    names = list(labels)
    members = {}
    for n in range(start, start + count):
        members[f"{names[n % len(names)]}/img-{n:05d}.png"] = distinct_png(n, seed)
    return zip_bytes(members).getvalue()


def upload_parts(
    dataset_id: str, files: list[tuple[str, int, bytes]], *, chunk: int = 64 * 1024, **header: Any
) -> list[pb.UploadSamplesRequest]:
    parts = []
    for index, (name, fmt, data) in enumerate(files):
        head = pb.UploadHeader(dataset_id=dataset_id, format=fmt, file_name=name, **header)
        parts.append(
            pb.UploadSamplesRequest(header=head) if index == 0 else pb.UploadSamplesRequest(next_file=head)
        )
        parts.extend(pb.UploadSamplesRequest(chunk=data[i : i + chunk]) for i in range(0, len(data), chunk))
    return parts


async def upload(
    stub: dataset_pb2_grpc.DatasetServiceStub,
    dataset_id: str,
    name: str,
    fmt: int,
    data: bytes,
    **header: Any,
) -> pb.UploadSamplesResponse:
    return await stub.UploadSamples(iter(upload_parts(dataset_id, [(name, fmt, data)], **header)))


async def create(
    stub: dataset_pb2_grpc.DatasetServiceStub, name: str = "", scenario: int = IMAGES
) -> pb.Dataset:
    return await stub.CreateDataset(
        pb.CreateDatasetRequest(name=name or f"ds-{uuid.uuid4().hex[:8]}", scenario=scenario)
    )


async def all_samples(
    stub: dataset_pb2_grpc.DatasetServiceStub, dataset_id: str, version: int = 0
) -> list[pb.Sample]:
    found: list[pb.Sample] = []
    token = ""
    while True:
        reply = await stub.ListSamples(
            pb.ListSamplesRequest(
                dataset_id=dataset_id,
                version=version,
                page=common_pb2.PageRequest(page_size=500, page_token=token),
            )
        )
        found.extend(reply.samples)
        token = reply.page.next_page_token
        if not token:
            return found


async def events_about(
    bus: EventBus, dataset_id: str, *, idle: float = 0.5
) -> list[tuple[str, dict[str, Any]]]:
    """(type, data) of every dataset event about `dataset_id` on the stream, read until idle."""
    seen: list[tuple[str, dict[str, Any]]] = []
    sub = await bus.js.subscribe(
        "mlops.events.dataset.>", ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
    )
    try:
        while True:
            try:
                message = await sub.next_msg(timeout=idle)
            except TimeoutError:
                return seen
            event = decode(message.data)
            if event.data.get("dataset_id") == dataset_id:
                seen.append((event.type_name, event.data))
    finally:
        await sub.unsubscribe()


async def download(
    stub: dataset_pb2_grpc.DatasetServiceStub, dataset_id: str, number: int, fmt: int
) -> bytes:
    chunks = [
        c.data
        async for c in stub.DownloadVersion(
            pb.DownloadVersionRequest(dataset_id=dataset_id, number=number, format=fmt)
        )
    ]
    return b"".join(chunks)


def archive_members(data: bytes, fmt: int) -> dict[str, bytes]:
    if fmt == pb.ARCHIVE_FORMAT_ZIP:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return {name: archive.read(name) for name in archive.namelist()}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers()}  # type: ignore[union-attr]


# --- tests ---------------------------------------------------------------------------------------


async def test_datasets_are_created_listed_updated_and_deleted(running: Running) -> None:
    stub = running.stub
    created = await create(stub, "pets")
    assert created.owner == "ada" and created.scenario == IMAGES
    with pytest.raises(grpc.aio.AioRpcError) as taken:
        await create(stub, "pets")
    assert taken.value.code() is grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.aio.AioRpcError) as unnamed:
        await stub.CreateDataset(pb.CreateDatasetRequest(name="x"))
    assert unnamed.value.code() is grpc.StatusCode.INVALID_ARGUMENT and "scenario" in unnamed.value.details()
    await create(stub, "logs", common_pb2.SCENARIO_LOG_CLUSTERING)
    listed = await stub.ListDatasets(pb.ListDatasetsRequest(scenario=IMAGES))
    assert [d.name for d in listed.datasets] == ["pets"]
    first = await stub.ListDatasets(pb.ListDatasetsRequest(page=common_pb2.PageRequest(page_size=1)))
    second = await stub.ListDatasets(
        pb.ListDatasetsRequest(
            page=common_pb2.PageRequest(page_size=1, page_token=first.page.next_page_token)
        )
    )
    assert [d.name for d in [*first.datasets, *second.datasets]] == ["pets", "logs"]
    assert second.page.next_page_token == "" and second.page.total_size == 2
    updated = await stub.UpdateDataset(
        pb.UpdateDatasetRequest(dataset_id=created.id, description="cats", tags=["v"])
    )
    assert updated.description == "cats" and list(updated.tags) == ["v"]
    await stub.DeleteDataset(pb.DeleteDatasetRequest(dataset_id=created.id))
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await stub.GetDataset(pb.GetDatasetRequest(dataset_id=created.id))
    assert gone.value.code() is grpc.StatusCode.NOT_FOUND
    assert [t for t, _ in await events_about(running.bus, created.id)] == ["DatasetCreated"]


async def test_upload_publish_and_download_round_trip(running: Running) -> None:
    stub = running.stub
    dataset = await create(stub)
    data = image_zip(20)
    added = await upload(stub, dataset.id, "pets.zip", pb.UPLOAD_FORMAT_IMAGE_ARCHIVE, data, chunk=1000)
    assert added.samples_added == 20 and added.new_blobs == 20 and added.bytes_received == len(data)
    split = await stub.SplitSamples(
        pb.SplitSamplesRequest(
            dataset_id=dataset.id, training_ratio=0.5, validation_ratio=0.25, testing_ratio=0.25, seed=3
        )
    )
    counts = dict(split.counts_per_purpose)
    assert split.strategy == "stratified" and counts["training"] == 10 and sum(counts.values()) == 20
    version = await stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id, message="first"))
    assert (version.number, version.sample_count, version.author) == (1, 20, "ada")
    assert dict(version.counts_per_label) == {"cat": 10, "dog": 10}
    manifest = await load_manifest_bytes(running.blobs, version.manifest_digest)
    for fmt in (pb.ARCHIVE_FORMAT_TAR_GZ, pb.ARCHIVE_FORMAT_ZIP):
        members = archive_members(await download(stub, dataset.id, 1, fmt), fmt)
        assert members.pop("manifest.json") == manifest
        with zipfile.ZipFile(io.BytesIO(data)) as original:
            assert members == {f"samples/{n}": original.read(n) for n in original.namelist()}
    published = [t for t, d in await events_about(running.bus, dataset.id)]
    assert published == ["DatasetCreated", "DatasetVersionPublished"]
    [(_, payload)] = [
        e for e in await events_about(running.bus, dataset.id) if e[0] == "DatasetVersionPublished"
    ]
    assert payload["manifest_digest"] == version.manifest_digest
    assert {k: int(v) for k, v in payload["counts_per_purpose"].items()} == counts


async def test_versions_are_immutable_diffable_and_restorable(running: Running) -> None:
    stub = running.stub
    dataset = await create(stub)
    await upload(stub, dataset.id, "a.zip", pb.UPLOAD_FORMAT_IMAGE_ARCHIVE, image_zip(6))
    v1 = await stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id))
    v1_samples = await all_samples(stub, dataset.id, 1)
    draft = await all_samples(stub, dataset.id)
    await stub.DeleteSample(pb.DeleteSampleRequest(dataset_id=dataset.id, sample_id=draft[0].id))
    await stub.UpdateSample(
        pb.UpdateSampleRequest(
            dataset_id=dataset.id,
            sample_id=draft[1].id,
            annotation=pb.Annotation(label="dog"),
            purpose=pb.PURPOSE_TESTING,
        )
    )
    moved = await stub.RelabelSamples(
        pb.RelabelSamplesRequest(
            dataset_id=dataset.id,
            filter=pb.SampleFilter(name_prefix="dog/"),
            set_purpose=pb.PURPOSE_VALIDATION,
        )
    )
    assert moved.samples_changed == 3
    await upload(stub, dataset.id, "b.zip", pb.UPLOAD_FORMAT_IMAGE_ARCHIVE, image_zip(1, start=50))
    v2 = await stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id))
    assert v2.number == 2 and v2.manifest_digest != v1.manifest_digest
    assert await all_samples(stub, dataset.id, 1) == v1_samples
    assert (await stub.GetVersion(pb.GetVersionRequest(dataset_id=dataset.id, number=1))) == v1
    diff = await stub.DiffVersions(pb.DiffVersionsRequest(dataset_id=dataset.id, from_number=1, to_number=2))
    assert [c.name for c in diff.added] == ["cat/img-00050.png"]
    assert [c.name for c in diff.removed] == [draft[0].name]
    assert diff.label_moves == 1 and diff.purpose_moves == 4
    with pytest.raises(grpc.aio.AioRpcError) as unchanged:
        await stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id))
    assert unchanged.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    restored = await stub.RestoreVersion(pb.RestoreVersionRequest(dataset_id=dataset.id, number=1))
    assert restored.draft_sample_count == 6
    back = await stub.DiffVersions(pb.DiffVersionsRequest(dataset_id=dataset.id, from_number=1, to_number=0))
    assert not (back.added or back.removed or back.changed)
    archived = await stub.ArchiveVersion(pb.ArchiveVersionRequest(dataset_id=dataset.id, number=1))
    assert archived.state == pb.VERSION_STATE_ARCHIVED
    listed = await stub.ListVersions(pb.ListVersionsRequest(dataset_id=dataset.id))
    assert [v.number for v in listed.versions] == [2]
    await stub.UnarchiveVersion(pb.ArchiveVersionRequest(dataset_id=dataset.id, number=1))
    listed = await stub.ListVersions(pb.ListVersionsRequest(dataset_id=dataset.id))
    assert [v.number for v in listed.versions] == [1, 2]
    await stub.DeleteVersion(pb.DeleteVersionRequest(dataset_id=dataset.id, number=2))
    assert await running.blobs.stat_object(manifest_key(v2.manifest_digest)) is None
    assert await running.blobs.stat_object(manifest_key(v1.manifest_digest)) is not None
    assert [t for t, _ in await events_about(running.bus, dataset.id)].count("DatasetVersionArchived") == 2


async def test_an_abandoned_download_stops_and_the_next_one_completes(running: Running) -> None:
    stub = running.stub
    dataset = await create(stub)
    await upload(stub, dataset.id, "a.zip", pb.UPLOAD_FORMAT_IMAGE_ARCHIVE, image_zip(300))
    await stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id))
    running.settings.download_chunk_bytes = 4096
    call = stub.DownloadVersion(pb.DownloadVersionRequest(dataset_id=dataset.id, number=1))
    first = await call.read()
    assert first.file_name.endswith(".tar.gz")
    call.cancel()
    members = archive_members(
        await download(stub, dataset.id, 1, pb.ARCHIVE_FORMAT_TAR_GZ), pb.ARCHIVE_FORMAT_TAR_GZ
    )
    assert len(members) == 301


async def test_concurrent_publishes_of_one_draft_make_exactly_one_version(running: Running) -> None:
    stub = running.stub
    dataset = await create(stub)
    await upload(stub, dataset.id, "a.zip", pb.UPLOAD_FORMAT_IMAGE_ARCHIVE, image_zip(30))
    results = await asyncio.gather(
        *(stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id)) for _ in range(5)),
        return_exceptions=True,
    )
    published = [r for r in results if isinstance(r, pb.DatasetVersion)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(published) == 1 and len(refused) == 4
    assert {r.code() for r in refused} <= {grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ABORTED}
    listed = await stub.ListVersions(pb.ListVersionsRequest(dataset_id=dataset.id))
    assert [v.number for v in listed.versions] == [1]
    events = [t for t, _ in await events_about(running.bus, dataset.id)]
    assert events.count("DatasetVersionPublished") == 1


async def test_a_one_percent_change_stores_about_one_percent_new_data(running: Running) -> None:
    stub = running.stub
    dataset = await create(stub)
    first = await upload(stub, dataset.id, "a.zip", pb.UPLOAD_FORMAT_IMAGE_ARCHIVE, image_zip(200))
    await stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id))
    draft = {s.name: s.id for s in await all_samples(stub, dataset.id)}
    for name in ("cat/img-00000.png", "dog/img-00001.png"):
        await stub.DeleteSample(pb.DeleteSampleRequest(dataset_id=dataset.id, sample_id=draft[name]))
    changed = zip_bytes({"cat/img-00000.png": png(30, 30), "dog/img-00001.png": png(31, 30)}).getvalue()
    second = await upload(stub, dataset.id, "b.zip", pb.UPLOAD_FORMAT_IMAGE_ARCHIVE, changed)
    v2 = await stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id))
    assert first.new_blobs == 200 and second.new_blobs == 2
    assert v2.sample_count == 200
    # The same contents uploaded again store nothing new.
    again = await create(stub)
    assert (
        await upload(stub, again.id, "a.zip", pb.UPLOAD_FORMAT_IMAGE_ARCHIVE, image_zip(200))
    ).new_blobs == 0


async def test_demo_dataset_loads_in_one_call(running: Running) -> None:
    reply = await running.stub.LoadDemoDataset(
        pb.LoadDemoDatasetRequest(scenario=common_pb2.SCENARIO_TEXT_CLASSIFICATION, seed=1, publish=True)
    )
    assert reply.dataset.draft_sample_count > 100 and reply.version.number == 1
    counts = dict(reply.version.counts_per_purpose)
    assert counts["training"] > counts["validation"] > 0 and counts["testing"] > 0
    manifest = json.loads(await load_manifest_bytes(running.blobs, reply.version.manifest_digest))
    assert len(manifest["samples"]) == reply.version.sample_count
