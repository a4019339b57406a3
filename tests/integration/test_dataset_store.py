"""The dataset store on SQLite and PostgreSQL: datasets, drafts, versions, users, blob references."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from mlops.kernel.db import Database, migrate
from mlops.kernel.errors import AlreadyExists, Conflict, NotFound
from services.dataset.domain import (
    Dataset,
    Label,
    Manifest,
    Purpose,
    Sample,
    SampleFilter,
    Scenario,
    VersionState,
)
from services.dataset.main import MIGRATIONS
from services.dataset.store import DatasetQuery, SqlDatasetStore, VersionRecord

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sample(name: str, label: str = "cat", purpose: Purpose = Purpose.TRAINING) -> Sample:
    return Sample(
        name=name,
        content_sha256=sha(name),
        size_bytes=10,
        media_type="image/png",
        purpose=purpose,
        annotation=Label(label) if label else None,
        metadata={"source": "test"},
    )


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlDatasetStore]:
    await asyncio.to_thread(migrate, database_url, MIGRATIONS)
    db = Database(database_url)
    yield SqlDatasetStore(db)
    await db.dispose()


async def _dataset(store: SqlDatasetStore, name: str = "pets") -> Dataset:
    dataset = Dataset.create(
        name=name, scenario=Scenario.IMAGE_CLASSIFICATION, owner="ada", tags=["a"], now=NOW
    )
    async with store.unit() as uow:
        await uow.add_dataset(dataset)
    return dataset


async def test_datasets_round_trip_filter_and_unique_names(store: SqlDatasetStore) -> None:
    pets = await _dataset(store)
    await _dataset(store, "logs")
    with pytest.raises(AlreadyExists):
        await _dataset(store)
    async with store.unit() as uow:
        assert await uow.get_dataset(pets.dataset_id) == pets
        page = await uow.list_datasets(DatasetQuery(name_contains="PET"), 0, 10)
        assert [d.name for d in page.items] == ["pets"]
        assert (await uow.list_datasets(DatasetQuery(tag="a"), 0, 1)).next_offset == 1
        assert (await uow.list_datasets(DatasetQuery(scenario=Scenario.LOG_CLUSTERING), 0, 10)).total == 0
    async with store.unit() as uow:
        await uow.delete_dataset(pets.dataset_id)
    async with store.unit() as uow:
        with pytest.raises(NotFound):
            await uow.get_dataset(pets.dataset_id)


async def test_draft_samples_filter_update_and_delete(store: SqlDatasetStore) -> None:
    pets = await _dataset(store)
    batch = [sample("a.png"), sample("b.png", "dog", Purpose.TESTING), sample("c.png", "")]
    async with store.unit() as uow:
        await uow.add_samples(pets.dataset_id, batch, NOW)
    async with store.unit() as uow:
        with pytest.raises(AlreadyExists):
            await uow.add_samples(pets.dataset_id, [sample("a.png")], NOW)
    async with store.unit() as uow:
        assert await uow.existing_names(pets.dataset_id, ["a.png", "z.png"]) == {"a.png"}
        assert await uow.samples_named(pets.dataset_id, ["b.png", "z.png"]) == [batch[1]]
        dogs = await uow.list_samples(pets.dataset_id, SampleFilter(label="dog"), 0, 10)
        assert [s.name for s in dogs.items] == ["b.png"]
        unlabeled = await uow.list_samples(pets.dataset_id, SampleFilter(unlabeled_only=True), 0, 10)
        assert [s.name for s in unlabeled.items] == ["c.png"]
        assert (await uow.get_sample(pets.dataset_id, batch[0].sample_id)) == batch[0]
        await uow.update_samples(pets.dataset_id, [batch[0].with_changes(purpose=Purpose.VALIDATION)])
        await uow.delete_sample(pets.dataset_id, batch[2].sample_id)
        assert (await uow.draft_counts([pets.dataset_id])) == {pets.dataset_id: 2}
    async with store.unit() as uow:
        draft = await uow.draft_samples(pets.dataset_id)
    assert [(s.name, s.purpose) for s in draft] == [("a.png", Purpose.VALIDATION), ("b.png", Purpose.TESTING)]


async def _publish(store: SqlDatasetStore, dataset: Dataset) -> VersionRecord:
    async with store.unit() as uow:
        current = await uow.get_dataset(dataset.dataset_id, for_update=True)
        manifest = Manifest.of(await uow.draft_samples(dataset.dataset_id))
        record = VersionRecord(
            dataset_id=current.dataset_id,
            number=current.next_version_number(),
            scenario=current.scenario,
            state=VersionState.PUBLISHED,
            manifest_digest=manifest.digest(),
            author="ada",
            message="first",
            created_at=NOW,
            sample_count=len(manifest),
            total_bytes=manifest.total_bytes(),
            counts_per_purpose=manifest.counts_per_purpose(),
            counts_per_label=manifest.counts_per_label(),
        )
        await uow.advance_version(dataset.dataset_id, current.latest_version, NOW)
        await uow.add_version(record, manifest)
    return record


async def test_versions_entries_users_and_compare_and_set(store: SqlDatasetStore) -> None:
    pets = await _dataset(store)
    async with store.unit() as uow:
        await uow.add_samples(pets.dataset_id, [sample("a.png"), sample("b.png", "dog")], NOW)
    record = await _publish(store, pets)
    async with store.unit() as uow:
        with pytest.raises(Conflict):
            await uow.advance_version(pets.dataset_id, 0, NOW)
    async with store.unit() as uow:
        assert await uow.get_version(pets.dataset_id, 1) == record
        manifest = await uow.version_manifest(pets.dataset_id, 1)
        assert manifest.digest() == record.manifest_digest
        entries = await uow.list_entries(pets.dataset_id, 1, SampleFilter(label="dog"), 0, 10)
        assert [e.name for e in entries.items] == ["b.png"]
        assert await uow.add_version_user(pets.dataset_id, 1, "run:r1", NOW)
        assert await uow.add_version_user(pets.dataset_id, 1, "run:r1", NOW)
        assert not await uow.add_version_user(pets.dataset_id, 9, "run:r1", NOW)
        await uow.set_version_state(pets.dataset_id, 1, VersionState.ARCHIVED)
    async with store.unit() as uow:
        assert (await uow.list_versions(pets.dataset_id, False, 0, 10)).items == []
        [listed] = (await uow.list_versions(pets.dataset_id, True, 0, 10)).items
        assert listed.used_by == ("run:r1",) and listed.state is VersionState.ARCHIVED
        assert await uow.remove_version_user(pets.dataset_id, 1, "run:r1")
        await uow.delete_version(pets.dataset_id, 1)
    async with store.unit() as uow:
        with pytest.raises(NotFound):
            await uow.get_version(pets.dataset_id, 1)
        assert (await uow.get_dataset(pets.dataset_id)).latest_version == 1


async def test_blob_references_reservations_and_doomed_marks(store: SqlDatasetStore) -> None:
    pets = await _dataset(store)
    async with store.unit() as uow:
        await uow.add_samples(pets.dataset_id, [sample("a.png")], NOW)
    record = await _publish(store, pets)
    async with store.unit() as uow:
        await uow.clear_draft(pets.dataset_id)
        await uow.reserve_blobs("up1", [sha("pending")], NOW)
        await uow.reserve_blobs("up1", [sha("pending")], NOW)
        await uow.mark_doomed([sha("gone")], NOW)
    candidates = {sha("a.png"), record.manifest_digest, sha("pending"), sha("gone")}
    async with store.unit() as uow:
        assert await uow.referenced_blobs(candidates) == candidates - {sha("gone")}
        assert await uow.doomed_among(candidates) == {sha("gone")}
        assert await uow.expire_reservations(NOW + timedelta(seconds=1)) == 1
        assert await uow.doomed_among(candidates) == set()
        await uow.release_reservation("up1")
