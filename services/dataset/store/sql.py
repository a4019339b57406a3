"""The SQLAlchemy implementation of the store, tested on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mlops.kernel.db import Database
from mlops.kernel.errors import AlreadyExists, Conflict, NotFound

from ..domain import (
    Dataset,
    Manifest,
    ManifestEntry,
    Purpose,
    Sample,
    SampleFilter,
    Scenario,
    VersionState,
    annotation_from_json,
    annotation_to_json,
    label_of,
)
from .records import DatasetQuery, PackedBlob, Page, VersionRecord
from .tables import (
    datasets,
    doomed_blobs,
    packed_blobs,
    pending_blobs,
    samples,
    version_entries,
    version_users,
    versions,
)

# Bound parameters per statement stay well under SQLite's and asyncpg's limits.
_IN_CHUNK = 500
_INSERT_CHUNK = 1000


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every time the service stores is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _chunks(values: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _dataset_of(row: Any) -> Dataset:
    return Dataset(
        dataset_id=row.dataset_id,
        name=row.name,
        scenario=Scenario(row.scenario),
        owner=row.owner,
        description=row.description,
        tags=tuple(row.tags or ()),
        created_at=_aware(row.created_at),  # type: ignore[arg-type]
        updated_at=_aware(row.updated_at),  # type: ignore[arg-type]
        latest_version=row.latest_version,
    )


def _dataset_values(dataset: Dataset) -> dict[str, Any]:
    return {
        "dataset_id": dataset.dataset_id,
        "name": dataset.name,
        "scenario": dataset.scenario.value,
        "owner": dataset.owner,
        "description": dataset.description,
        "tags": list(dataset.tags),
        "created_at": dataset.created_at,
        "updated_at": dataset.updated_at,
        "latest_version": dataset.latest_version,
    }


def _sample_values(dataset_id: str, sample: Sample) -> dict[str, Any]:
    return {
        "sample_id": sample.sample_id,
        "dataset_id": dataset_id,
        "name": sample.name,
        "sha256": sample.content_sha256,
        "size_bytes": sample.size_bytes,
        "media_type": sample.media_type,
        "purpose": sample.purpose.value,
        "label": label_of(sample.annotation),
        "annotation": annotation_to_json(sample.annotation),
        "metadata": dict(sample.metadata),
        "observed_at": sample.observed_at,
    }


def _sample_of(row: Any) -> Sample:
    return Sample(
        sample_id=row.sample_id,
        name=row.name,
        content_sha256=row.sha256,
        size_bytes=row.size_bytes,
        media_type=row.media_type,
        purpose=Purpose(row.purpose),
        annotation=annotation_from_json(row.annotation),
        metadata=dict(row.metadata or {}),
        observed_at=_aware(row.observed_at),
    )


def _entry_values(dataset_id: str, number: int, entry: ManifestEntry) -> dict[str, Any]:
    return {
        "dataset_id": dataset_id,
        "number": number,
        "name": entry.name,
        "sha256": entry.sha256,
        "size_bytes": entry.size_bytes,
        "media_type": entry.media_type,
        "purpose": entry.purpose.value,
        "label": entry.label,
        "annotation": annotation_to_json(entry.annotation),
        "metadata": dict(entry.metadata),
        "observed_at": entry.observed_at,
    }


def _entry_of(row: Any) -> ManifestEntry:
    return ManifestEntry(
        name=row.name,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        media_type=row.media_type,
        purpose=Purpose(row.purpose),
        annotation=annotation_from_json(row.annotation),
        metadata=dict(row.metadata or {}),
        observed_at=_aware(row.observed_at),
    )


def _version_of(row: Any, users: Sequence[str] = ()) -> VersionRecord:
    return VersionRecord(
        dataset_id=row.dataset_id,
        number=row.number,
        scenario=Scenario(row.scenario),
        state=VersionState(row.state),
        manifest_digest=row.manifest_digest,
        author=row.author,
        message=row.message,
        created_at=_aware(row.created_at),  # type: ignore[arg-type]
        sample_count=row.sample_count,
        total_bytes=row.total_bytes,
        counts_per_purpose=dict(row.counts_per_purpose),
        counts_per_label=dict(row.counts_per_label),
        used_by=tuple(sorted(users)),
    )


def _filtered(query: Select[Any], table: Any, selection: SampleFilter) -> Select[Any]:
    if selection.purpose is not None:
        query = query.where(table.c.purpose == selection.purpose.value)
    if selection.label:
        query = query.where(table.c.label == selection.label)
    if selection.name_prefix:
        query = query.where(table.c.name.like(_escape_like(selection.name_prefix) + "%", escape="\\"))
    if selection.sample_ids and "sample_id" in table.c:
        query = query.where(table.c.sample_id.in_(sorted(selection.sample_ids)))
    if selection.unlabeled_only:
        query = query.where(table.c.annotation.is_(None))
    return query


async def _paged(session: AsyncSession, query: Select[Any], offset: int, limit: int) -> tuple[list[Any], int]:
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = (await session.execute(query.offset(offset).limit(limit))).all()
    return list(rows), int(total)


def _next(offset: int, count: int, total: int) -> int | None:
    return offset + count if offset + count < total else None


class SqlDatasetUnit:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- datasets -----------------------------------------------------------------------------

    async def add_dataset(self, dataset: Dataset) -> None:
        if await self._name_taken(dataset.name, dataset.dataset_id):
            raise AlreadyExists(f"a dataset named {dataset.name!r} exists", field="name")
        try:
            async with self.session.begin_nested():
                await self.session.execute(insert(datasets).values(**_dataset_values(dataset)))
        except IntegrityError:
            raise AlreadyExists(f"a dataset named {dataset.name!r} exists", field="name") from None

    async def _name_taken(self, name: str, dataset_id: str) -> bool:
        found = await self.session.execute(
            select(datasets.c.dataset_id).where(datasets.c.name == name, datasets.c.dataset_id != dataset_id)
        )
        return found.first() is not None

    async def get_dataset(self, dataset_id: str, *, for_update: bool = False) -> Dataset:
        query = select(datasets).where(datasets.c.dataset_id == dataset_id)
        if for_update:
            # PostgreSQL serialises a dataset's draft changes and publishes on its row; SQLite
            # already serialises every writer (BEGIN IMMEDIATE).
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        if row is None:
            raise NotFound(f"no dataset {dataset_id!r}", field="dataset_id")
        return _dataset_of(row)

    async def save_dataset(self, dataset: Dataset) -> None:
        if await self._name_taken(dataset.name, dataset.dataset_id):
            raise AlreadyExists(f"a dataset named {dataset.name!r} exists", field="name")
        values = _dataset_values(dataset)
        values.pop("dataset_id")
        result = await self.session.execute(
            update(datasets).where(datasets.c.dataset_id == dataset.dataset_id).values(**values)
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFound(f"no dataset {dataset.dataset_id!r}", field="dataset_id")

    async def advance_version(self, dataset_id: str, expected: int, now: datetime) -> None:
        """Compare-and-set of the latest version number: of two publishes, exactly one wins."""
        result = await self.session.execute(
            update(datasets)
            .where(datasets.c.dataset_id == dataset_id, datasets.c.latest_version == expected)
            .values(latest_version=expected + 1, updated_at=now)
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise Conflict(
                "another publish of this dataset won; the draft was not published", field="dataset_id"
            )

    async def delete_dataset(self, dataset_id: str) -> None:
        # Children first: SQLite enforces the foreign keys but we do not rely on cascades anywhere.
        await self.session.execute(delete(version_users).where(version_users.c.dataset_id == dataset_id))
        await self.session.execute(delete(version_entries).where(version_entries.c.dataset_id == dataset_id))
        await self.session.execute(delete(versions).where(versions.c.dataset_id == dataset_id))
        await self.session.execute(delete(samples).where(samples.c.dataset_id == dataset_id))
        result = await self.session.execute(delete(datasets).where(datasets.c.dataset_id == dataset_id))
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFound(f"no dataset {dataset_id!r}", field="dataset_id")

    async def list_datasets(self, query: DatasetQuery, offset: int, limit: int) -> Page[Dataset]:
        statement = select(datasets).order_by(datasets.c.created_at, datasets.c.dataset_id)
        if query.scenario is not None:
            statement = statement.where(datasets.c.scenario == query.scenario.value)
        if query.owner:
            statement = statement.where(datasets.c.owner == query.owner)
        if query.name_contains:
            pattern = "%" + _escape_like(query.name_contains.lower()) + "%"
            statement = statement.where(func.lower(datasets.c.name).like(pattern, escape="\\"))
        rows = (await self.session.execute(statement)).all()
        # Tags are a JSON list: filtered here, portable across both databases (datasets are few).
        found = [_dataset_of(r) for r in rows if not query.tag or query.tag in (r.tags or ())]
        items = found[offset : offset + limit]
        return Page(items, len(found), _next(offset, len(items), len(found)))

    async def draft_counts(self, dataset_ids: Collection[str]) -> dict[str, int]:
        counts = {dataset_id: 0 for dataset_id in dataset_ids}
        for chunk in _chunks(dataset_ids, _IN_CHUNK):
            rows = await self.session.execute(
                select(samples.c.dataset_id, func.count())
                .where(samples.c.dataset_id.in_(chunk))
                .group_by(samples.c.dataset_id)
            )
            counts.update({dataset_id: int(count) for dataset_id, count in rows.all()})
        return counts

    # --- the draft ----------------------------------------------------------------------------

    async def existing_names(self, dataset_id: str, names: Collection[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(names, _IN_CHUNK):
            rows = await self.session.execute(
                select(samples.c.name).where(samples.c.dataset_id == dataset_id, samples.c.name.in_(chunk))
            )
            found.update(rows.scalars())
        return found

    async def add_samples(self, dataset_id: str, new: Iterable[Sample], now: datetime) -> None:
        rows = ({**_sample_values(dataset_id, s), "created_at": now} for s in new)
        try:
            for chunk in _chunks(rows, _INSERT_CHUNK):
                await self.session.execute(insert(samples), chunk)
        except IntegrityError as error:
            raise AlreadyExists(
                "the draft already has a sample of the same name (a concurrent upload?)", field="name"
            ) from error

    async def get_sample(self, dataset_id: str, sample_id: str) -> Sample:
        row = (
            await self.session.execute(
                select(samples).where(samples.c.dataset_id == dataset_id, samples.c.sample_id == sample_id)
            )
        ).first()
        if row is None:
            raise NotFound(f"no sample {sample_id!r} in dataset {dataset_id!r}", field="sample_id")
        return _sample_of(row)

    async def update_samples(self, dataset_id: str, changed: Iterable[Sample]) -> None:
        for sample in changed:
            values = _sample_values(dataset_id, sample)
            del values["sample_id"], values["dataset_id"]
            await self.session.execute(
                update(samples)
                .where(samples.c.dataset_id == dataset_id, samples.c.sample_id == sample.sample_id)
                .values(**values)
            )

    async def delete_sample(self, dataset_id: str, sample_id: str) -> None:
        result = await self.session.execute(
            delete(samples).where(samples.c.dataset_id == dataset_id, samples.c.sample_id == sample_id)
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFound(f"no sample {sample_id!r} in dataset {dataset_id!r}", field="sample_id")

    async def draft_samples(self, dataset_id: str) -> list[Sample]:
        rows = await self.session.execute(
            select(samples).where(samples.c.dataset_id == dataset_id).order_by(samples.c.name)
        )
        return [_sample_of(r) for r in rows.all()]

    async def list_samples(
        self, dataset_id: str, selection: SampleFilter, offset: int, limit: int
    ) -> Page[Sample]:
        query = _filtered(
            select(samples).where(samples.c.dataset_id == dataset_id).order_by(samples.c.name),
            samples,
            selection,
        )
        rows, total = await _paged(self.session, query, offset, limit)
        return Page([_sample_of(r) for r in rows], total, _next(offset, len(rows), total))

    async def clear_draft(self, dataset_id: str) -> None:
        await self.session.execute(delete(samples).where(samples.c.dataset_id == dataset_id))

    # --- versions -----------------------------------------------------------------------------

    async def add_version(self, record: VersionRecord, manifest: Manifest) -> None:
        try:
            async with self.session.begin_nested():
                await self.session.execute(
                    insert(versions).values(
                        dataset_id=record.dataset_id,
                        number=record.number,
                        scenario=record.scenario.value,
                        state=record.state.value,
                        manifest_digest=record.manifest_digest,
                        author=record.author,
                        message=record.message,
                        created_at=record.created_at,
                        sample_count=record.sample_count,
                        total_bytes=record.total_bytes,
                        counts_per_purpose=record.counts_per_purpose,
                        counts_per_label=record.counts_per_label,
                    )
                )
        except IntegrityError:
            raise Conflict(
                f"version {record.number} was published meanwhile; the draft was not published",
                field="dataset_id",
            ) from None
        rows = (_entry_values(record.dataset_id, record.number, e) for e in manifest.entries)
        for chunk in _chunks(rows, _INSERT_CHUNK):
            await self.session.execute(insert(version_entries), chunk)

    async def _users(self, dataset_id: str, numbers: Collection[int]) -> dict[int, list[str]]:
        users: dict[int, list[str]] = {n: [] for n in numbers}
        if not numbers:
            return users
        rows = await self.session.execute(
            select(version_users.c.number, version_users.c.user).where(
                version_users.c.dataset_id == dataset_id, version_users.c.number.in_(list(numbers))
            )
        )
        for number, user in rows.all():
            users.setdefault(number, []).append(user)
        return users

    async def get_version(self, dataset_id: str, number: int) -> VersionRecord:
        row = (
            await self.session.execute(
                select(versions).where(versions.c.dataset_id == dataset_id, versions.c.number == number)
            )
        ).first()
        if row is None:
            raise NotFound(f"dataset {dataset_id!r} has no version {number}", field="number")
        return _version_of(row, (await self._users(dataset_id, [number]))[number])

    async def latest_version(self, dataset_id: str) -> VersionRecord | None:
        row = (
            await self.session.execute(
                select(versions)
                .where(versions.c.dataset_id == dataset_id)
                .order_by(versions.c.number.desc())
                .limit(1)
            )
        ).first()
        return None if row is None else _version_of(row)

    async def list_versions(
        self, dataset_id: str, include_archived: bool, offset: int, limit: int
    ) -> Page[VersionRecord]:
        query = select(versions).where(versions.c.dataset_id == dataset_id).order_by(versions.c.number)
        if not include_archived:
            query = query.where(versions.c.state == VersionState.PUBLISHED.value)
        rows, total = await _paged(self.session, query, offset, limit)
        users = await self._users(dataset_id, [r.number for r in rows])
        items = [_version_of(r, users[r.number]) for r in rows]
        return Page(items, total, _next(offset, len(items), total))

    async def all_versions(self, dataset_id: str) -> list[VersionRecord]:
        rows = (
            await self.session.execute(
                select(versions).where(versions.c.dataset_id == dataset_id).order_by(versions.c.number)
            )
        ).all()
        users = await self._users(dataset_id, [r.number for r in rows])
        return [_version_of(r, users[r.number]) for r in rows]

    async def set_version_state(self, dataset_id: str, number: int, state: VersionState) -> None:
        await self.session.execute(
            update(versions)
            .where(versions.c.dataset_id == dataset_id, versions.c.number == number)
            .values(state=state.value)
        )

    async def delete_version(self, dataset_id: str, number: int) -> None:
        where = (version_entries.c.dataset_id == dataset_id) & (version_entries.c.number == number)
        await self.session.execute(delete(version_entries).where(where))
        await self.session.execute(
            delete(versions).where(versions.c.dataset_id == dataset_id, versions.c.number == number)
        )

    async def version_manifest(self, dataset_id: str, number: int) -> Manifest:
        rows = await self.session.execute(
            select(version_entries)
            .where(version_entries.c.dataset_id == dataset_id, version_entries.c.number == number)
            .order_by(version_entries.c.name)
        )
        return Manifest(tuple(_entry_of(r) for r in rows.all()))

    async def list_entries(
        self, dataset_id: str, number: int, selection: SampleFilter, offset: int, limit: int
    ) -> Page[ManifestEntry]:
        query = _filtered(
            select(version_entries)
            .where(version_entries.c.dataset_id == dataset_id, version_entries.c.number == number)
            .order_by(version_entries.c.name),
            version_entries,
            selection,
        )
        rows, total = await _paged(self.session, query, offset, limit)
        return Page([_entry_of(r) for r in rows], total, _next(offset, len(rows), total))

    async def add_version_user(self, dataset_id: str, number: int, user: str, now: datetime) -> bool:
        """False when the version is unknown; adding a known user again changes nothing."""
        exists = (
            await self.session.execute(
                select(versions.c.number).where(
                    versions.c.dataset_id == dataset_id, versions.c.number == number
                )
            )
        ).first()
        if exists is None:
            return False
        known = (
            await self.session.execute(
                select(version_users.c.user).where(
                    version_users.c.dataset_id == dataset_id,
                    version_users.c.number == number,
                    version_users.c.user == user,
                )
            )
        ).first()
        if known is None:
            await self.session.execute(
                insert(version_users).values(dataset_id=dataset_id, number=number, user=user, added_at=now)
            )
        return True

    async def remove_version_user(self, dataset_id: str, number: int, user: str) -> bool:
        result = await self.session.execute(
            delete(version_users).where(
                version_users.c.dataset_id == dataset_id,
                version_users.c.number == number,
                version_users.c.user == user,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # --- blob references ----------------------------------------------------------------------

    async def referenced_blobs(self, candidates: Collection[str]) -> set[str]:
        """The candidates that a draft, a version (entries or manifest) or a reservation refers to."""
        found: set[str] = set()
        for chunk in _chunks(candidates, _IN_CHUNK):
            for column in (
                samples.c.sha256,
                version_entries.c.sha256,
                versions.c.manifest_digest,
                pending_blobs.c.sha256,
            ):
                rows = await self.session.execute(select(column).where(column.in_(chunk)).distinct())
                found.update(rows.scalars())
        return found

    async def stored_blobs(self, candidates: Collection[str]) -> set[str]:
        """The candidates committed draft or version rows name (rows commit only after their blobs)."""
        found: set[str] = set()
        for chunk in _chunks(candidates, _IN_CHUNK):
            for column in (samples.c.sha256, version_entries.c.sha256):
                rows = await self.session.execute(select(column).where(column.in_(chunk)).distinct())
                found.update(rows.scalars())
        return found

    async def reserve_blobs(self, reservation_id: str, digests: Collection[str], now: datetime) -> None:
        rows = [{"reservation_id": reservation_id, "sha256": d, "created_at": now} for d in set(digests)]
        for chunk in _chunks(rows, _INSERT_CHUNK):
            existing = await self.session.execute(
                select(pending_blobs.c.sha256).where(
                    pending_blobs.c.reservation_id == reservation_id,
                    pending_blobs.c.sha256.in_([r["sha256"] for r in chunk]),
                )
            )
            known = set(existing.scalars())
            fresh = [r for r in chunk if r["sha256"] not in known]
            if fresh:
                await self.session.execute(insert(pending_blobs), fresh)

    async def release_reservation(self, reservation_id: str) -> None:
        await self.session.execute(
            delete(pending_blobs).where(pending_blobs.c.reservation_id == reservation_id)
        )

    async def doomed_among(self, digests: Collection[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(digests, _IN_CHUNK):
            rows = await self.session.execute(
                select(doomed_blobs.c.sha256).where(doomed_blobs.c.sha256.in_(chunk))
            )
            found.update(rows.scalars())
        return found

    async def mark_doomed(self, digests: Collection[str], now: datetime) -> None:
        already = await self.doomed_among(digests)
        rows = [{"sha256": d, "marked_at": now} for d in set(digests) - already]
        for chunk in _chunks(rows, _INSERT_CHUNK):
            await self.session.execute(insert(doomed_blobs), chunk)

    async def unmark_doomed(self, digests: Collection[str]) -> None:
        for chunk in _chunks(digests, _IN_CHUNK):
            await self.session.execute(delete(doomed_blobs).where(doomed_blobs.c.sha256.in_(chunk)))

    async def expire_reservations(self, before: datetime) -> int:
        """Reservations of uploads that died; also forgets marks of collections that died."""
        result = await self.session.execute(delete(pending_blobs).where(pending_blobs.c.created_at < before))
        await self.session.execute(delete(doomed_blobs).where(doomed_blobs.c.marked_at < before))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # --- packs ----------------------------------------------------------------------------------

    async def add_packed(self, pack_key: str, members: Iterable[PackedBlob]) -> None:
        """Index a pack's members; a pack stored again (same content, same key) adds nothing."""
        known = await self.pack_members(pack_key)
        rows = [
            {"sha256": m.sha256, "pack_key": pack_key, "offset": m.offset, "length": m.length}
            for m in members
            if m.sha256 not in known
        ]
        for chunk in _chunks(rows, _INSERT_CHUNK):
            await self.session.execute(insert(packed_blobs), chunk)

    async def packed_locations(self, digests: Collection[str]) -> dict[str, PackedBlob]:
        """Where each packed digest among these can be read (one pack each; any would do)."""
        found: dict[str, PackedBlob] = {}
        for chunk in _chunks(digests, _IN_CHUNK):
            rows = await self.session.execute(select(packed_blobs).where(packed_blobs.c.sha256.in_(chunk)))
            for row in rows:
                found[row.sha256] = PackedBlob(row.sha256, row.offset, row.length, row.pack_key)
        return found

    async def pack_members(self, pack_key: str) -> set[str]:
        rows = await self.session.execute(
            select(packed_blobs.c.sha256).where(packed_blobs.c.pack_key == pack_key)
        )
        return set(rows.scalars())

    async def forget_pack(self, pack_key: str) -> None:
        await self.session.execute(delete(packed_blobs).where(packed_blobs.c.pack_key == pack_key))


class SqlDatasetStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[SqlDatasetUnit]:
        async with self.db.transaction() as session:
            yield SqlDatasetUnit(session)
