"""The SQLAlchemy implementation of the store, tested on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mlops.kernel.db import Database
from mlops.kernel.errors import AlreadyExists, Conflict, NotFound

from ..domain import (
    Boxes,
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
from .records import DatasetQuery, DraftManifest, PackedBlob, Page, VersionRecord
from .tables import (
    blob_checksums,
    datasets,
    doomed_blobs,
    packed_blobs,
    pending_blobs,
    retired_packs,
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


def _first(pair: tuple[str, Any]) -> str:
    return pair[0]


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
        "entry_json": ManifestEntry.of(sample).canonical(),
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
        created_at=_aware(row.created_at),
    )


def _entry_values(dataset_id: str, number: int, entry: ManifestEntry) -> dict[str, Any]:
    """A new open row: the entry from version `number` on."""
    return {
        "dataset_id": dataset_id,
        "first_version": number,
        "last_version": None,
        "entry_json": entry.canonical(),
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


def _in_version(number: int) -> ColumnElement[bool]:
    """The entry rows that version `number` holds (rows are shared by consecutive versions)."""
    return (version_entries.c.first_version <= number) & or_(
        version_entries.c.last_version.is_(None), version_entries.c.last_version >= number
    )


# Entry rows the next publish may extend.
_OPEN = version_entries.c.last_version.is_(None)


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


def _conditions(table: Any, selection: SampleFilter) -> list[ColumnElement[bool]]:
    """The filter's criteria but its sample ids (callers bound those by chunks or a list)."""
    conditions: list[ColumnElement[bool]] = []
    if selection.purpose is not None:
        conditions.append(table.c.purpose == selection.purpose.value)
    if selection.label:
        conditions.append(table.c.label == selection.label)
    if selection.name_prefix:
        conditions.append(table.c.name.like(_escape_like(selection.name_prefix) + "%", escape="\\"))
    if selection.unlabeled_only:
        conditions.append(table.c.annotation.is_(None))
    return conditions


def _filtered(query: Select[Any], table: Any, selection: SampleFilter) -> Select[Any]:
    query = query.where(*_conditions(table, selection))
    if selection.sample_ids and "sample_id" in table.c:
        query = query.where(table.c.sample_id.in_(sorted(selection.sample_ids)))
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

    async def samples_named(self, dataset_id: str, names: Collection[str]) -> list[Sample]:
        found: list[Sample] = []
        for chunk in _chunks(names, _IN_CHUNK):
            rows = await self.session.execute(
                select(samples).where(samples.c.dataset_id == dataset_id, samples.c.name.in_(chunk))
            )
            found.extend(_sample_of(row) for row in rows)
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

    async def delete_samples(self, dataset_id: str, selection: SampleFilter) -> int:
        """Deletes the draft samples the filter matches; returns how many."""
        where = [samples.c.dataset_id == dataset_id, *_conditions(samples, selection)]
        if not selection.sample_ids:
            result = await self.session.execute(delete(samples).where(*where))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]
        deleted = 0
        for chunk in _chunks(sorted(selection.sample_ids), _IN_CHUNK):
            result = await self.session.execute(delete(samples).where(*where, samples.c.sample_id.in_(chunk)))
            deleted += int(result.rowcount or 0)  # type: ignore[attr-defined]
        return deleted

    async def delete_samples_named(self, dataset_id: str, names: Collection[str]) -> int:
        deleted = 0
        for chunk in _chunks(names, _IN_CHUNK):
            result = await self.session.execute(
                delete(samples).where(samples.c.dataset_id == dataset_id, samples.c.name.in_(chunk))
            )
            deleted += int(result.rowcount or 0)  # type: ignore[attr-defined]
        return deleted

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

    async def draft_manifest(self, dataset_id: str) -> DraftManifest:
        """The draft's entries as stored JSON, in name order, with the totals a version records: no
        domain object per sample, so a publish costs little more than reading one text column."""
        query = select(
            samples.c.name,
            samples.c.entry_json,
            samples.c.purpose,
            samples.c.label,
            samples.c.size_bytes,
        ).where(samples.c.dataset_id == dataset_id)
        rows = (await self.session.execute(query)).all()
        if any(row.entry_json is None for row in rows):
            await self._fill_entry_json(dataset_id)
            rows = (await self.session.execute(query)).all()
        named: list[tuple[str, str]] = []
        per_purpose = Counter[str]()
        labels = Counter[str]()
        total_bytes = 0
        without_label = False
        for name, entry, purpose, label, size in rows:
            named.append((name, entry))
            per_purpose[purpose] += 1
            if label:
                labels[label] += 1
            else:
                without_label = True
            total_bytes += size
        if without_label:
            labels += await self._draft_box_labels(dataset_id)
        # Sorted here, not by the database: PostgreSQL's collation may not order as Python does,
        # and the manifest's canonical order is Python's (code points).
        named.sort(key=_first)
        return DraftManifest(
            [entry for _, entry in named],
            total_bytes,
            {p.value: per_purpose[p.value] for p in Purpose},
            dict(sorted(labels.items())),
        )

    async def _draft_box_labels(self, dataset_id: str) -> Counter[str]:
        """One count per box of detection samples, as Manifest.counts_per_label counts them."""
        counts = Counter[str]()
        # Samples without a class label but with an annotation: boxes (or regression targets).
        others = await self.session.execute(
            select(samples.c.annotation).where(
                samples.c.dataset_id == dataset_id, samples.c.label == "", samples.c.annotation.is_not(None)
            )
        )
        for (value,) in others:
            annotation = annotation_from_json(value)
            if isinstance(annotation, Boxes):
                counts.update(box.label for box in annotation.boxes)
        return counts

    async def _fill_entry_json(self, dataset_id: str) -> None:
        """Rows written before migration ds0003 have no entry JSON yet: computed once, at their
        dataset's first publish after it."""
        rows = await self.session.execute(
            select(samples).where(samples.c.dataset_id == dataset_id, samples.c.entry_json.is_(None))
        )
        filled = [
            {"row_id": row.sample_id, "document": ManifestEntry.of(_sample_of(row)).canonical()}
            for row in rows
        ]
        statement = (
            update(samples)
            .where(samples.c.sample_id == bindparam("row_id"))
            .values(entry_json=bindparam("document"))
        )
        for chunk in _chunks(filled, _INSERT_CHUNK):
            await self.session.execute(statement, chunk)

    # --- versions -----------------------------------------------------------------------------

    async def add_version(self, record: VersionRecord, manifest: Manifest) -> None:
        """A version holding exactly the manifest's entries (open rows it still holds are extended)."""
        await self._add_version_row(record)
        dataset_id, number = record.dataset_id, record.number
        wanted = {entry.name: entry for entry in manifest.entries}
        open_rows = await self.session.execute(
            select(version_entries.c.name, version_entries.c.entry_json).where(
                version_entries.c.dataset_id == dataset_id, _OPEN
            )
        )
        kept: set[str] = set()
        ended: list[str] = []
        for name, document in open_rows:
            if name in wanted and document is not None and wanted[name].canonical() == document:
                kept.add(name)
            else:
                ended.append(name)
        for chunk in _chunks(ended, _IN_CHUNK):
            await self.session.execute(
                update(version_entries)
                .where(version_entries.c.dataset_id == dataset_id, _OPEN, version_entries.c.name.in_(chunk))
                .values(last_version=number - 1)
            )
        rows = (_entry_values(dataset_id, number, e) for e in manifest.entries if e.name not in kept)
        for chunk in _chunks(rows, _INSERT_CHUNK):
            await self.session.execute(insert(version_entries), chunk)

    async def add_version_of_draft(self, record: VersionRecord) -> None:
        """The version's entries from the draft's rows, by the database: open rows the draft no
        longer holds as they are are closed at the previous number, and the draft's other rows are
        added as open rows. A 1% change writes about 1% of the rows.

        The caller holds the dataset's lock, so these are the rows its manifest was built from.
        """
        await self._add_version_row(record)
        dataset_id, number = record.dataset_id, record.number
        same_in_draft = exists().where(
            samples.c.dataset_id == dataset_id,
            samples.c.name == version_entries.c.name,
            samples.c.entry_json == version_entries.c.entry_json,
        )
        await self.session.execute(
            update(version_entries)
            .where(version_entries.c.dataset_id == dataset_id, _OPEN, ~same_in_draft)
            .values(last_version=number - 1)
        )
        still_open = exists().where(
            version_entries.c.dataset_id == dataset_id, version_entries.c.name == samples.c.name, _OPEN
        )
        copied = [
            "dataset_id",
            "name",
            "sha256",
            "size_bytes",
            "media_type",
            "purpose",
            "label",
            "annotation",
            "metadata",
            "observed_at",
            "entry_json",
        ]
        first_version = literal(number, Integer).label("first_version")
        source = select(*(samples.c[name] for name in copied), first_version).where(
            samples.c.dataset_id == dataset_id, ~still_open
        )
        await self.session.execute(insert(version_entries).from_select([*copied, "first_version"], source))

    async def _add_version_row(self, record: VersionRecord) -> None:
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

    async def get_version(self, dataset_id: str, number: int, *, for_update: bool = False) -> VersionRecord:
        query = select(versions).where(versions.c.dataset_id == dataset_id, versions.c.number == number)
        row = (await self.session.execute(query.with_for_update() if for_update else query)).first()
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

    async def all_versions(self, dataset_id: str, *, for_update: bool = False) -> list[VersionRecord]:
        query = select(versions).where(versions.c.dataset_id == dataset_id).order_by(versions.c.number)
        rows = (await self.session.execute(query.with_for_update() if for_update else query)).all()
        users = await self._users(dataset_id, [r.number for r in rows])
        return [_version_of(r, users[r.number]) for r in rows]

    async def set_version_state(self, dataset_id: str, number: int, state: VersionState) -> None:
        await self.session.execute(
            update(versions)
            .where(versions.c.dataset_id == dataset_id, versions.c.number == number)
            .values(state=state.value)
        )

    async def delete_version(self, dataset_id: str, number: int) -> None:
        """The version, and the entry rows no other version of the dataset holds."""
        await self.session.execute(
            delete(versions).where(versions.c.dataset_id == dataset_id, versions.c.number == number)
        )
        held_by_another = exists().where(
            versions.c.dataset_id == dataset_id,
            versions.c.number >= version_entries.c.first_version,
            or_(_OPEN, versions.c.number <= version_entries.c.last_version),
        )
        await self.session.execute(
            delete(version_entries).where(
                version_entries.c.dataset_id == dataset_id, _in_version(number), ~held_by_another
            )
        )

    async def version_manifest(self, dataset_id: str, number: int) -> Manifest:
        rows = await self.session.execute(
            select(version_entries).where(version_entries.c.dataset_id == dataset_id, _in_version(number))
        )
        # Sorted by Python, as manifests are: a PostgreSQL collation may order names otherwise.
        return Manifest.from_entries(_entry_of(r) for r in rows.all())

    async def manifest_entries_after(
        self, dataset_id: str, number: int, after: str | None, limit: int
    ) -> list[ManifestEntry]:
        """Up to `limit` of the version's entries in manifest order (names by code point) whose names
        follow `after`."""
        # Code point order: SQLite compares UTF-8 bytes; PostgreSQL does under the "C" collation
        # (a database's own collation may order names otherwise).
        name = version_entries.c.name
        if self.session.get_bind().dialect.name == "postgresql":
            name = name.collate("C")  # type: ignore[assignment]
        in_version = (version_entries.c.dataset_id == dataset_id) & _in_version(number)
        query = select(version_entries).where(in_version).order_by(name).limit(limit)
        if after is not None:
            query = query.where(name > after)
        rows = (await self.session.execute(query)).all()
        return [_entry_of(r) for r in rows]

    async def list_entries(
        self, dataset_id: str, number: int, selection: SampleFilter, offset: int, limit: int
    ) -> Page[ManifestEntry]:
        query = _filtered(
            select(version_entries)
            .where(version_entries.c.dataset_id == dataset_id, _in_version(number))
            .order_by(version_entries.c.name),
            version_entries,
            selection,
        )
        rows, total = await _paged(self.session, query, offset, limit)
        return Page([_entry_of(r) for r in rows], total, _next(offset, len(rows), total))

    async def add_version_user(self, dataset_id: str, number: int, user: str, now: datetime) -> bool:
        """False when the version is unknown; adding a known user again changes nothing. The version's
        row stays locked until the transaction ends: a delete that checks the users waits for it."""
        exists = (
            await self.session.execute(
                select(versions.c.number)
                .where(versions.c.dataset_id == dataset_id, versions.c.number == number)
                .with_for_update()
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
        # Two collections may mark the same blob at once (READ COMMITTED on PostgreSQL): a mark that
        # is already there stays as it is.
        postgres = self.session.get_bind().dialect.name == "postgresql"
        dialect_insert = postgresql.insert if postgres else sqlite.insert
        rows = [{"sha256": d, "marked_at": now} for d in sorted(set(digests))]
        for chunk in _chunks(rows, _INSERT_CHUNK):
            await self.session.execute(dialect_insert(doomed_blobs).on_conflict_do_nothing(), chunk)

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

    async def pack_contents(self, pack_key: str) -> list[PackedBlob]:
        """The pack's members, in the order they lie in it."""
        rows = await self.session.execute(
            select(packed_blobs).where(packed_blobs.c.pack_key == pack_key).order_by(packed_blobs.c.offset)
        )
        return [PackedBlob(row.sha256, row.offset, row.length, row.pack_key) for row in rows]

    async def forget_pack(self, pack_key: str) -> None:
        await self.session.execute(delete(packed_blobs).where(packed_blobs.c.pack_key == pack_key))
        await self.session.execute(delete(retired_packs).where(retired_packs.c.pack_key == pack_key))

    async def retire_pack(self, pack_key: str, now: datetime) -> None:
        """Nothing resolves to the pack any more; its object waits for the links to it to expire."""
        await self.session.execute(delete(packed_blobs).where(packed_blobs.c.pack_key == pack_key))
        await self.session.execute(insert(retired_packs).values(pack_key=pack_key, retired_at=now))

    async def unretire_pack(self, pack_key: str) -> None:
        await self.session.execute(delete(retired_packs).where(retired_packs.c.pack_key == pack_key))

    async def retired_since(self, pack_key: str) -> datetime | None:
        row = await self.session.execute(
            select(retired_packs.c.retired_at).where(retired_packs.c.pack_key == pack_key)
        )
        return _aware(row.scalar_one_or_none())

    # --- checksums ------------------------------------------------------------------------------

    async def record_checksums(self, checksums: Mapping[str, int]) -> None:
        """A blob's CRC-32 is a function of its content (its key): one already there stays."""
        postgres = self.session.get_bind().dialect.name == "postgresql"
        dialect_insert = postgresql.insert if postgres else sqlite.insert
        rows = [{"sha256": digest, "crc32": crc} for digest, crc in sorted(checksums.items())]
        for chunk in _chunks(rows, _INSERT_CHUNK):
            await self.session.execute(dialect_insert(blob_checksums).on_conflict_do_nothing(), chunk)

    async def checksums(self, digests: Collection[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(digests, _IN_CHUNK):
            rows = await self.session.execute(
                select(blob_checksums.c.sha256, blob_checksums.c.crc32).where(
                    blob_checksums.c.sha256.in_(chunk)
                )
            )
            found.update({row.sha256: int(row.crc32) for row in rows})
        return found

    async def forget_unreferenced_checksums(self) -> int:
        """Rows of blobs no draft, version or reservation names (the collector's to delete). An
        upload records its blobs' rows in the transaction that adds its samples, so a row this
        removes is never one that committed rows still need."""
        referenced = union(
            select(samples.c.sha256), select(version_entries.c.sha256), select(pending_blobs.c.sha256)
        )
        result = await self.session.execute(
            delete(blob_checksums).where(blob_checksums.c.sha256.not_in(referenced))
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


class SqlDatasetStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[SqlDatasetUnit]:
        async with self.db.transaction() as session:
            yield SqlDatasetUnit(session)

    def exclusive(self, name: str) -> AbstractAsyncContextManager[None]:
        return self.db.exclusive(name)
