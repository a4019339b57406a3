"""Changing many samples at once and publishing cheaply: DeleteSamples, uploads that replace samples
of the same name, and a publish that joins the entries' stored JSON instead of rebuilding them.

The store tests and the service tests run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa
from alembic import command
from typer.testing import CliRunner

from mlops.api.dataset.v1 import dataset_pb2 as pb
from mlops.cli.main import app
from mlops.kernel.db import Database, alembic_config, migrate
from mlops.stack.stackfile import StackInfo
from services.dataset.domain import (
    BoundingBox,
    Boxes,
    Dataset,
    Label,
    Manifest,
    Purpose,
    Sample,
    SampleFilter,
    Scenario,
    Target,
    VersionState,
    canonical_json,
    manifest_document,
)
from services.dataset.main import MIGRATIONS
from services.dataset.manifests import load_manifest_bytes
from services.dataset.store import SqlDatasetStore, VersionRecord
from services.dataset.store.tables import samples as samples_table
from services.dataset.store.tables import version_entries
from tests.dataset.builders import png, zip_bytes
from tests.integration.test_dataset_api import (
    Running,
    all_samples,
    create,
    image_zip,
    running,
    upload,
    upload_parts,
)
from tests.integration.test_grpc_auth import ADMIN

__all__ = ["running"]  # the fixture, imported so pytest finds it here

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
ARCHIVE = pb.UPLOAD_FORMAT_IMAGE_ARCHIVE


def _sample(name: str, annotation: object = None, **extra: object) -> Sample:
    return Sample(
        name=name,
        content_sha256=hashlib.sha256(name.encode()).hexdigest(),
        size_bytes=len(name) * 10,
        media_type="image/png",
        annotation=annotation,  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
    )


# Names whose code-point order differs from a locale's collation; every kind of annotation;
# metadata and observation times, which are optional keys of an entry.
MIXED = [
    _sample("Zebra.png", Label("cat"), purpose=Purpose.VALIDATION),
    _sample("apple.png", Label("dog"), metadata={"b": 1, "a": [1, "é"]}),
    _sample("éclair.png", Label("cat"), observed_at=NOW),
    _sample("日本/猫.png", None, purpose=Purpose.TESTING),
    _sample("a b/_%.png", Boxes((BoundingBox("cat", 0.1, 0.2, 0.3, 0.4), BoundingBox("dog", 0, 0, 1, 1)))),
    _sample("target.csv", Target(2.5)),
]


def test_a_manifest_document_is_the_canonical_json_of_the_whole_manifest() -> None:
    manifest = Manifest.of(MIXED)
    joined = manifest_document(entry.canonical() for entry in manifest.entries)
    assert joined == canonical_json(manifest.to_json()) == manifest.to_bytes()
    assert Manifest.from_bytes(joined) == manifest
    assert manifest_document([]) == canonical_json({"format": 1, "samples": []})


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlDatasetStore]:
    await asyncio.to_thread(migrate, database_url, MIGRATIONS)
    db = Database(database_url)
    yield SqlDatasetStore(db)
    await db.dispose()


async def _dataset_with(store: SqlDatasetStore, scenario: Scenario, draft: list[Sample]) -> Dataset:
    dataset = Dataset.create(name=f"bulk-{scenario.value}", scenario=scenario, owner="ada", now=NOW)
    async with store.unit() as uow:
        await uow.add_dataset(dataset)
        await uow.add_samples(dataset.dataset_id, draft, NOW)
    return dataset


def _record(dataset: Dataset, number: int, manifest: Manifest) -> VersionRecord:
    return VersionRecord(
        dataset_id=dataset.dataset_id,
        number=number,
        scenario=dataset.scenario,
        state=VersionState.PUBLISHED,
        manifest_digest=manifest.digest(),
        author="ada",
        message="",
        created_at=NOW,
        sample_count=len(manifest),
        total_bytes=manifest.total_bytes(),
        counts_per_purpose=manifest.counts_per_purpose(),
        counts_per_label=manifest.counts_per_label(),
    )


async def test_the_draft_manifest_matches_the_domain_manifest_and_copies_into_a_version(
    store: SqlDatasetStore,
) -> None:
    dataset = await _dataset_with(store, Scenario.OBJECT_DETECTION, MIXED)
    expected = Manifest.of(MIXED)
    async with store.unit() as uow:
        draft = await uow.draft_manifest(dataset.dataset_id)
        await uow.add_version_of_draft(_record(dataset, 1, expected))
    assert manifest_document(draft.entry_documents) == expected.to_bytes()
    assert draft.sample_count == len(expected)
    assert draft.total_bytes == expected.total_bytes()
    assert draft.counts_per_purpose == expected.counts_per_purpose()
    assert draft.counts_per_label == expected.counts_per_label()
    async with store.unit() as uow:
        assert await uow.version_manifest(dataset.dataset_id, 1) == expected


async def _publish_draft(store: SqlDatasetStore, dataset: Dataset) -> Manifest:
    """What the service's publish does to the store; returns the manifest the version must have."""
    async with store.unit() as uow:
        current = await uow.get_dataset(dataset.dataset_id, for_update=True)
        manifest = Manifest.of(await uow.draft_samples(dataset.dataset_id))
        await uow.draft_manifest(dataset.dataset_id)
        await uow.advance_version(dataset.dataset_id, current.latest_version, NOW)
        await uow.add_version_of_draft(_record(dataset, current.latest_version + 1, manifest))
    return manifest


async def _entry_rows(store: SqlDatasetStore) -> int:
    async with store.unit() as uow:
        counted = await uow.session.execute(sa.select(sa.func.count()).select_from(version_entries))
        return int(counted.scalar_one())


async def test_versions_share_unchanged_entry_rows_and_deleting_one_keeps_the_others(
    store: SqlDatasetStore,
) -> None:
    draft = [_sample(f"img-{n:03d}.png", Label("cat")) for n in range(50)]
    dataset = await _dataset_with(store, Scenario.IMAGE_CLASSIFICATION, draft)
    expected = {1: await _publish_draft(store, dataset)}
    assert await _entry_rows(store) == 50
    # v2: two samples replaced, one relabelled, one removed, one added.
    async with store.unit() as uow:
        ids = {s.name: s.sample_id for s in await uow.draft_samples(dataset.dataset_id)}
        await uow.delete_samples_named(dataset.dataset_id, ["img-000.png", "img-001.png"])
        await uow.add_samples(
            dataset.dataset_id, [_sample("img-000.png", Label("dog")), _sample("img-001.png", None)], NOW
        )
        relabelled = (await uow.get_sample(dataset.dataset_id, ids["img-002.png"])).with_changes(
            annotation=Label("bird")
        )
        await uow.update_samples(dataset.dataset_id, [relabelled])
        await uow.delete_sample(dataset.dataset_id, ids["img-003.png"])
        await uow.add_samples(dataset.dataset_id, [_sample("new.png", Label("cat"))], NOW)
    expected[2] = await _publish_draft(store, dataset)
    assert await _entry_rows(store) == 50 + 4
    # v3: only an addition.
    async with store.unit() as uow:
        await uow.add_samples(dataset.dataset_id, [_sample("newer.png", Label("cat"))], NOW)
    expected[3] = await _publish_draft(store, dataset)
    assert await _entry_rows(store) == 50 + 4 + 1

    async def check(numbers: list[int]) -> None:
        async with store.unit() as uow:
            for number in numbers:
                assert await uow.version_manifest(dataset.dataset_id, number) == expected[number]
                page = await uow.list_entries(dataset.dataset_id, number, SampleFilter(label="cat"), 0, 1000)
                assert page.items == [e for e in expected[number].entries if e.label == "cat"]

    await check([1, 2, 3])
    async with store.unit() as uow:
        await uow.delete_version(dataset.dataset_id, 2)
    await check([1, 3])
    # Only v2's own rows went (the relabelled img-002 of v2 is still v3's).
    assert await _entry_rows(store) == 50 + 4 + 1
    async with store.unit() as uow:
        await uow.delete_version(dataset.dataset_id, 3)
    await check([1])
    assert await _entry_rows(store) == 50
    # The latest version was deleted: the next publish still holds exactly the draft.
    expected[4] = await _publish_draft(store, dataset)
    await check([1, 4])
    assert expected[4] == expected[3]


async def test_rows_written_before_entry_json_existed_get_it_at_publish(store: SqlDatasetStore) -> None:
    dataset = await _dataset_with(store, Scenario.OBJECT_DETECTION, MIXED)
    async with store.unit() as uow:
        await uow.session.execute(sa.update(samples_table).values(entry_json=None))
    async with store.unit() as uow:
        draft = await uow.draft_manifest(dataset.dataset_id)
    assert manifest_document(draft.entry_documents) == Manifest.of(MIXED).to_bytes()
    async with store.unit() as uow:
        missing = await uow.session.execute(
            sa.select(sa.func.count()).where(samples_table.c.entry_json.is_(None))
        )
        assert missing.scalar_one() == 0


async def test_an_update_rewrites_the_stored_entry(store: SqlDatasetStore) -> None:
    dataset = await _dataset_with(store, Scenario.IMAGE_CLASSIFICATION, MIXED[:3])
    async with store.unit() as uow:
        draft = await uow.draft_samples(dataset.dataset_id)
        relabelled = [s.with_changes(annotation=Label("bird")) for s in draft]
        await uow.update_samples(dataset.dataset_id, relabelled)
        published = await uow.draft_manifest(dataset.dataset_id)
    assert manifest_document(published.entry_documents) == Manifest.of(relabelled).to_bytes()
    assert published.counts_per_label == {"bird": 3}


async def test_migration_ds0003_converts_entry_rows_both_ways(
    store: SqlDatasetStore, database_url: str
) -> None:
    draft = [_sample(f"img-{n}.png", Label("cat")) for n in range(5)]
    dataset = await _dataset_with(store, Scenario.IMAGE_CLASSIFICATION, draft)
    expected = {1: await _publish_draft(store, dataset)}
    async with store.unit() as uow:
        await uow.add_samples(dataset.dataset_id, [_sample("img-5.png", Label("dog"))], NOW)
    expected[2] = await _publish_draft(store, dataset)
    config = alembic_config(database_url, MIGRATIONS)

    async def columns(table: str) -> set[str]:
        async with store.db.engine.connect() as connection:
            found = await connection.run_sync(lambda sync: sa.inspect(sync).get_columns(table))
        return {column["name"] for column in found}

    await asyncio.to_thread(command.downgrade, config, "ds0002")
    assert "entry_json" not in await columns("samples")
    assert "number" in await columns("version_entries")
    async with store.unit() as uow:
        old_rows = await uow.session.execute(sa.text("SELECT count(*) FROM version_entries"))
        assert old_rows.scalar_one() == 5 + 6  # one row per version and sample again
    await asyncio.to_thread(command.upgrade, config, "heads")
    assert "entry_json" in await columns("samples")
    async with store.unit() as uow:
        for number, manifest in expected.items():
            assert await uow.version_manifest(dataset.dataset_id, number) == manifest
    # Rows from before the upgrade are one version's each; the next publish opens the draft's.
    async with store.unit() as uow:
        await uow.delete_samples_named(dataset.dataset_id, ["img-0.png"])
    expected[3] = await _publish_draft(store, dataset)
    async with store.unit() as uow:
        for number, manifest in expected.items():
            assert await uow.version_manifest(dataset.dataset_id, number) == manifest


# --- through the API ------------------------------------------------------------------------------


async def test_an_upload_can_replace_samples_of_the_same_name(running: Running) -> None:
    stub = running.stub
    dataset = await create(stub)
    await upload(stub, dataset.id, "a.zip", ARCHIVE, image_zip(20))
    v1 = await stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id))
    changed = zip_bytes({"cat/img-00000.png": png(30, 30), "dog/img-00001.png": png(31, 30)}).getvalue()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await upload(stub, dataset.id, "b.zip", ARCHIVE, changed)
    assert refused.value.code() is grpc.StatusCode.ALREADY_EXISTS
    before = {s.name: s for s in await all_samples(stub, dataset.id)}

    reply = await upload(stub, dataset.id, "b.zip", ARCHIVE, changed, replace_existing=True)
    # (Its blobs were stored by the refused attempt already: new_blobs is 0.)
    assert (reply.samples_added, reply.samples_replaced) == (2, 2)
    after = {s.name: s for s in await all_samples(stub, dataset.id)}
    assert after.keys() == before.keys()
    replaced = {n for n in after if after[n].content_sha256 != before[n].content_sha256}
    assert replaced == {"cat/img-00000.png", "dog/img-00001.png"}
    assert after["cat/img-00000.png"].id in reply.sample_ids

    v2 = await stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id))
    diff = await stub.DiffVersions(
        pb.DiffVersionsRequest(dataset_id=dataset.id, from_number=v1.number, to_number=v2.number)
    )
    assert sorted(c.name for c in diff.changed) == sorted(replaced)
    assert not diff.added and not diff.removed
    # The stored manifest (verified against the digest as it is read) lists the version's rows.
    stored = Manifest.from_bytes(await load_manifest_bytes(running.blobs, v2.manifest_digest))
    listed = await all_samples(stub, dataset.id, v2.number)
    assert [(e.name, e.sha256) for e in stored.entries] == sorted((s.name, s.content_sha256) for s in listed)
    assert v2.sample_count == 20 and v2.total_bytes == stored.total_bytes()


async def test_replacing_is_asked_for_on_the_first_header(running: Running) -> None:
    stub = running.stub
    dataset = await create(stub)
    files: list[tuple[str, int, bytes]] = [
        ("a.png", pb.UPLOAD_FORMAT_FILE, png(8, 8)),
        ("b.png", pb.UPLOAD_FORMAT_FILE, png(9, 8)),
    ]
    parts = upload_parts(dataset.id, files)
    parts[2].next_file.replace_existing = True
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.UploadSamples(iter(parts))
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert await all_samples(stub, dataset.id) == []


async def test_delete_samples_by_ids_or_filter_in_one_call(running: Running) -> None:
    stub = running.stub
    dataset = await create(stub)
    await upload(stub, dataset.id, "a.zip", ARCHIVE, image_zip(30))
    draft = await all_samples(stub, dataset.id)
    chosen = [s.id for s in draft[:3]] + ["no-such-sample"]

    by_ids = await stub.DeleteSamples(
        pb.DeleteSamplesRequest(dataset_id=dataset.id, filter=pb.SampleFilter(sample_ids=chosen))
    )
    assert by_ids.samples_deleted == 3
    by_prefix = await stub.DeleteSamples(
        pb.DeleteSamplesRequest(dataset_id=dataset.id, filter=pb.SampleFilter(name_prefix="dog/"))
    )
    assert by_prefix.samples_deleted == 15 - sum(s.name.startswith("dog/") for s in draft[:3])
    left = await all_samples(stub, dataset.id)
    assert len(left) == 30 - 3 - by_prefix.samples_deleted
    assert all(s.name.startswith("cat/") for s in left)

    with pytest.raises(grpc.aio.AioRpcError) as everything:
        await stub.DeleteSamples(pb.DeleteSamplesRequest(dataset_id=dataset.id))
    assert everything.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert len(await all_samples(stub, dataset.id)) == len(left)
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await stub.DeleteSamples(
            pb.DeleteSamplesRequest(dataset_id="nope", filter=pb.SampleFilter(label="cat"))
        )
    assert unknown.value.code() is grpc.StatusCode.NOT_FOUND


async def test_the_cli_replaces_changed_files_and_deletes_by_filter(running: Running, tmp_path: Path) -> None:
    data_dir = tmp_path / "cli"
    data_dir.mkdir()
    StackInfo(data_dir=str(data_dir), endpoints={"dataset": f"127.0.0.1:{running.runtime.port}"}).save()

    async def mlops(*args: str, succeeds: bool = True) -> str:
        # In a thread: the CLI's blocking calls must not stall the service's event loop.
        result = await asyncio.to_thread(
            CliRunner().invoke, app, ["datasets", *args, "--data-dir", str(data_dir), "--token", ADMIN]
        )
        assert (result.exit_code == 0) is succeeds, result.output
        return result.output

    await mlops("create", "pets", "--scenario", "image_classification")
    files = _write_pngs(tmp_path, ["keep-0.png", "keep-1.png", "drop-2.png", "drop-3.png"])
    assert "Added 4 samples" in await mlops("upload", "pets", "--label", "cat", *files)
    _write_pngs(tmp_path, ["keep-0.png"], width=20)
    output = await mlops("upload", "pets", "--label", "cat", "--replace", files[0], files[1])
    assert "Added 2 samples to pets, 2 of them replacing samples" in output
    assert "Deleted 2 samples." in await mlops("delete-samples", "pets", "--prefix", "drop-")
    assert "at least one criterion" in await mlops("delete-samples", "pets", succeeds=False)
    assert "2 of 2 samples" in await mlops("samples", "pets")


def _write_pngs(folder: Path, names: list[str], width: int = 8) -> list[str]:
    for n, name in enumerate(names):
        (folder / name).write_bytes(png(width + n, 8))
    return [str(folder / name) for name in names]
