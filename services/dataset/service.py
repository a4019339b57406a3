"""The dataset service's use cases: each one a unit of work over the store, the object store and the outbox.

Transport-free: the gRPC adapter (api.py) converts messages and calls these; the CLI and the gateway
reach them through it.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import tempfile
from collections import deque
from collections.abc import AsyncIterator, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from mlops.datasets.archive import ArchiveFormat, ArchivePolicy, Framing
from mlops.datasets.checksum import Verification
from mlops.kernel.auth import Permission, Principal
from mlops.kernel.errors import AlreadyExists, InvalidArgument, Unavailable
from mlops.kernel.objectstore import ObjectStore

from . import events
from .demo import generate_demo
from .domain import (
    Annotation,
    Dataset,
    Manifest,
    ManifestDiff,
    ManifestEntry,
    Purpose,
    Sample,
    SampleFilter,
    Scenario,
    SplitPlan,
    SplitRatios,
    VersionState,
    authorize_removal,
    check_annotation,
    check_dataset_deletable,
    check_draft_changed,
    check_metadata,
    check_publishable,
    check_version_deletable,
    diff_manifests,
    manifest_document,
    new_id,
    plan_split,
    relabel,
    utcnow,
)
from .download import VersionEntries, stream_archive
from .download_plan import (
    DownloadPlan,
    PlanPage,
    expiry_seconds,
    name_before_page,
    page_entries,
    page_token_after,
    sign_plan,
)
from .ingest import (
    AnnotationsFile,
    IngestedSample,
    IngestLimits,
    UploadSpec,
    annotate,
    annotated_names,
    close_all,
    is_annotations_file,
    read_annotations_file,
    read_upload,
)
from .manifests import MANIFEST_PREFIX, digest_of_key, manifest_key, save_manifest
from .packs import PackPolicy, build_pack, discard_unreferenced, pack_digest, store_pack, sweep_packs
from .prefetch import stored_entries_after
from .settings import DatasetSettings
from .store import DatasetQuery, DatasetStore, DatasetUnit, Page, VersionRecord

log = logging.getLogger(__name__)

_BATCH = 256
_DOOMED_WAIT_SECONDS = 60.0
_KEEP = object()


@dataclass(frozen=True)
class DatasetView:
    dataset: Dataset
    draft_sample_count: int


@dataclass(frozen=True)
class UploadFile:
    """One file of an upload, spooled and rewound, with what its header said."""

    spec: UploadSpec
    stream: IO[bytes]


@dataclass
class _StoredObjects:
    """What an upload put in the object store, so that a refused upload can take it back."""

    blobs: set[str] = field(default_factory=set)
    packs: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class IngestResult:
    sample_ids: list[str]
    bytes_received: int
    new_blobs: int
    # Of sample_ids, how many replaced a draft sample of the same name.
    replaced: int = 0
    # Samples of the upload or the draft whose boxes its annotations files set.
    annotated: int = 0


@dataclass(frozen=True)
class GarbageReport:
    blobs_removed: int
    bytes_freed: int
    packs_rewritten: int = 0


def _may_operate(caller: Principal) -> bool:
    return caller.can(Permission.DATASET_OPERATE)


class DatasetService:
    def __init__(self, store: DatasetStore, blobs: ObjectStore, settings: DatasetSettings) -> None:
        self.store = store
        self.blobs = blobs
        self.settings = settings
        self._bucket_ready = False
        self._bucket_lock = asyncio.Lock()

    async def _ready_blobs(self) -> ObjectStore:
        # The bucket is checked on first use, not at start: the service starts without S3 up.
        if not self._bucket_ready:
            async with self._bucket_lock:
                if not self._bucket_ready:
                    await self.blobs.ensure_bucket()
                    self._bucket_ready = True
        return self.blobs

    # --- datasets -------------------------------------------------------------------------------

    async def create_dataset(
        self, *, owner: str, name: str, scenario: Scenario, description: str = "", tags: Sequence[str] = ()
    ) -> DatasetView:
        dataset = Dataset.create(
            name=name, scenario=scenario, owner=owner, description=description, tags=tuple(tags)
        )
        async with self.store.unit() as uow:
            await uow.add_dataset(dataset)
            await events.dataset_created(uow.session, dataset)
        return DatasetView(dataset, 0)

    async def get_dataset(self, dataset_id: str) -> DatasetView:
        async with self.store.unit() as uow:
            dataset = await uow.get_dataset(dataset_id)
            counts = await uow.draft_counts([dataset_id])
        return DatasetView(dataset, counts[dataset_id])

    async def list_datasets(self, query: DatasetQuery, offset: int, limit: int) -> Page[DatasetView]:
        async with self.store.unit() as uow:
            page = await uow.list_datasets(query, offset, limit)
            counts = await uow.draft_counts([d.dataset_id for d in page.items])
        views = [DatasetView(d, counts[d.dataset_id]) for d in page.items]
        return Page(views, page.total, page.next_offset)

    async def update_dataset(
        self,
        dataset_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        tags: Sequence[str] = (),
        replace_tags: bool = False,
    ) -> DatasetView:
        async with self.store.unit() as uow:
            dataset = await uow.get_dataset(dataset_id, for_update=True)
            updated = dataset.update(
                now=utcnow(), name=name, description=description, tags=list(tags), replace_tags=replace_tags
            )
            await uow.save_dataset(updated)
            counts = await uow.draft_counts([dataset_id])
        return DatasetView(updated, counts[dataset_id])

    async def delete_dataset(self, dataset_id: str, caller: Principal) -> None:
        """Its blobs stay until the collector finds nothing else refers to them."""
        async with self.store.unit() as uow:
            dataset = await uow.get_dataset(dataset_id, for_update=True)
            authorize_removal(
                dataset.owner, caller.subject, may_operate=_may_operate(caller), what="the dataset"
            )
            # Locked, as in delete_version: a use being recorded now is seen or finds nothing.
            versions = await uow.all_versions(dataset_id, for_update=True)
            check_dataset_deletable(versions)
            await uow.delete_dataset(dataset_id)
        await self._drop_manifests([v.manifest_digest for v in versions])

    # --- uploads --------------------------------------------------------------------------------

    async def ingest(
        self, dataset_id: str, files: Sequence[UploadFile], *, replace_existing: bool = False
    ) -> IngestResult:
        """All files or nothing: rows commit in one transaction once every sample is valid and stored.

        A draft sample named like an uploaded one refuses the upload, or with `replace_existing` is
        replaced by it in the same transaction (what re-uploading changed files from a folder means).
        An annotations file (a bare COCO JSON) adds no sample: it sets the boxes of samples of this
        upload or of the draft, in that same transaction (see ingest/annotations.py).
        Blobs and packs an upload stored before it was refused are deleted again unless another
        upload or version has come to refer to the same bytes meanwhile (see discard_unreferenced).
        """
        if not files:
            raise InvalidArgument("an upload needs at least one file", field="header")
        async with self.store.unit() as uow:
            dataset = await uow.get_dataset(dataset_id)
        limits = self.settings.ingest_limits()
        # Read before any blob is stored: a malformed annotations file costs nothing to refuse.
        annotation_files, sample_files = await asyncio.to_thread(
            _read_annotations, files, dataset.scenario, limits
        )
        blobs = await self._ready_blobs()
        reservation = new_id()
        stored = _StoredObjects()
        staged: list[Sample] = []
        checksums: dict[str, int] = {}
        names: set[str] = set()
        received = sum(_size_of(upload.stream) for upload in files)
        new_blobs = 0
        # Batches run across file boundaries: an upload of many one-sample files is as fast as one archive.
        samples = _read_all(sample_files, dataset.scenario, limits)
        limit = asyncio.Semaphore(self.settings.upload_concurrency)
        # Reading the next batch overlaps storing the previous ones; two in flight bound the memory.
        storing: deque[asyncio.Task[int]] = deque()
        try:
            while batch := await asyncio.to_thread(_next_batch, samples):
                for item in batch:
                    if item.name in names:
                        close_all(batch)
                        raise InvalidArgument(
                            f"sample {item.name!r} appears twice in the upload", field="name"
                        )
                    names.add(item.name)
                staged.extend(item.to_sample() for item in batch)
                checksums.update((item.sha256, item.crc32) for item in batch)
                storing.append(
                    asyncio.create_task(self._store_contents(blobs, reservation, batch, limit, stored))
                )
                while len(storing) > 2:
                    new_blobs += await storing.popleft()
            while storing:
                new_blobs += await storing.popleft()
            if not staged and not annotation_files:
                raise InvalidArgument("the upload holds no samples", field="file")
            async with self.store.unit() as uow:
                await uow.get_dataset(dataset_id, for_update=True)
                clashes = await uow.existing_names(dataset_id, names)
                if clashes and replace_existing:
                    await uow.delete_samples_named(dataset_id, clashes)
                elif clashes:
                    shown = ", ".join(repr(n) for n in sorted(clashes)[:5])
                    raise AlreadyExists(
                        f"the draft already has samples named {shown} ({len(clashes)} in all); "
                        "delete them first or upload under other names",
                        field="name",
                    )
                staged, annotated_drafts = await _annotate(uow, dataset, staged, annotation_files)
                now = utcnow()
                await uow.add_samples(dataset_id, staged, now)
                await uow.update_samples(dataset_id, annotated_drafts)
                await uow.record_checksums(checksums)
                await uow.release_reservation(reservation)
                await _touch(uow, dataset_id, now)
        except BaseException:
            # Stores in flight finish first (a PUT in a thread cannot be stopped halfway), so that
            # everything this upload stored is known when it is taken back.
            await asyncio.gather(*storing, return_exceptions=True)
            await self._release(reservation)
            await self._discard(blobs, stored)
            raise
        return IngestResult(
            [s.sample_id for s in staged],
            received,
            new_blobs,
            len(clashes),
            len(annotated_names(annotation_files)),
        )

    async def _store_contents(
        self,
        blobs: ObjectStore,
        reservation: str,
        batch: list[IngestedSample],
        limit: asyncio.Semaphore,
        stored_objects: _StoredObjects,
    ) -> int:
        """Reserve, then store; the reservation is committed first so a collection never takes them.
        What is stored is recorded in `stored_objects` as each PUT completes."""
        digests = {item.sha256 for item in batch}
        try:
            async with self.store.unit() as uow:
                await uow.reserve_blobs(reservation, digests, utcnow())
                # Committed rows name only blobs already stored: those need no S3 round trip at all.
                stored = await uow.stored_blobs(digests)
            stored -= await self._wait_not_doomed(digests)

            async def put(item: IngestedSample) -> bool:
                async with limit:
                    if item.data is not None:
                        info = await blobs.put_bytes(item.data, media_type=item.media_type)
                    else:
                        info = await blobs.put_blob(cast(BinaryIO, item.open()), media_type=item.media_type)
                    if info.created:
                        stored_objects.blobs.add(item.sha256)
                    return info.created

            unique = {item.sha256: item for item in batch if item.sha256 not in stored}
            packable = [
                (item.sha256, item.data)
                for item in unique.values()
                # Not empty ones: S3 refuses an empty range.
                if item.data and len(item.data) <= self.settings.pack_max_blob_bytes
            ]
            if len(packable) < self.settings.pack_min_blobs:
                packable = []
            if packable:
                pack = await asyncio.to_thread(build_pack, packable)
                # A collection may be deleting a retired pack of these very bytes: reserve the pack
                # as any blob, and wait for the collection to let it go.
                async with self.store.unit() as uow:
                    await uow.reserve_blobs(reservation, {pack_digest(pack.key)}, utcnow())
                await self._wait_not_doomed({pack_digest(pack.key)})
                stored_objects.packs.add(pack.key)
                async with limit:
                    await store_pack(self.store, blobs, pack)
            packed = {sha256 for sha256, _ in packable}
            created = await asyncio.gather(
                *(put(item) for item in unique.values() if item.sha256 not in packed)
            )
            return len(packed) + sum(created)
        finally:
            for item in batch:
                item.close()

    async def _wait_not_doomed(self, digests: Collection[str]) -> set[str]:
        """A collection deleting some of these right now: wait for it; returns those it held, which
        the caller must store again."""
        deadline = asyncio.get_running_loop().time() + _DOOMED_WAIT_SECONDS
        held: set[str] = set()
        while True:
            async with self.store.unit() as uow:
                doomed = await uow.doomed_among(digests)
            if not doomed:
                return held
            held |= doomed
            if asyncio.get_running_loop().time() > deadline:
                raise Unavailable("a garbage collection holds blobs this upload needs; retry later")
            await asyncio.sleep(0.2)

    async def _discard(self, blobs: ObjectStore, stored: _StoredObjects) -> None:
        """Takes back what a refused upload stored; what cannot be taken back now the collector will."""
        if not stored.blobs and not stored.packs:
            return
        try:
            removed = await asyncio.shield(
                discard_unreferenced(self.store, blobs, stored.blobs, stored.packs, utcnow())
            )
            log.info("a refused upload's objects were removed", extra={"fields": {"objects": removed}})
        except Exception:
            log.exception("could not remove the objects of a refused upload; the collector will")

    async def _release(self, reservation: str) -> None:
        try:
            async with self.store.unit() as uow:
                await uow.release_reservation(reservation)
        except Exception:
            # Expired by the collector after the reservation TTL.
            log.exception("could not release an upload's blob reservation")

    # --- samples --------------------------------------------------------------------------------

    async def list_samples(
        self, dataset_id: str, version: int, selection: SampleFilter, offset: int, limit: int
    ) -> Page[Sample] | Page[ManifestEntry]:
        if version and selection.sample_ids:
            raise InvalidArgument(
                "a version's samples have no ids (ids name draft samples): filter them by name prefix",
                field="filter.sample_ids",
            )
        async with self.store.unit() as uow:
            await uow.get_dataset(dataset_id)
            if version:
                await uow.get_version(dataset_id, version)
                return await uow.list_entries(dataset_id, version, selection, offset, limit)
            return await uow.list_samples(dataset_id, selection, offset, limit)

    async def get_sample(self, dataset_id: str, sample_id: str) -> Sample:
        async with self.store.unit() as uow:
            return await uow.get_sample(dataset_id, sample_id)

    async def update_sample(
        self,
        dataset_id: str,
        sample_id: str,
        *,
        purpose: Purpose | None = None,
        annotation: Annotation | object = _KEEP,
        metadata: dict[str, Any] | None = None,
    ) -> Sample:
        async with self.store.unit() as uow:
            dataset = await uow.get_dataset(dataset_id, for_update=True)
            sample = await uow.get_sample(dataset_id, sample_id)
            changes: dict[str, Any] = {}
            if purpose is not None:
                changes["purpose"] = purpose
            if metadata is not None:
                changes["metadata"] = check_metadata(metadata)
            if annotation is not _KEEP:
                changes["annotation"] = annotation
            updated = sample.with_changes(**changes)
            if annotation is not _KEEP or metadata is not None:
                # New boxes, or a new image size for the old ones: either must fit the other.
                check_annotation(
                    dataset.scenario, updated.annotation, field="annotation", metadata=updated.metadata
                )
            await uow.update_samples(dataset_id, [updated])
            await _touch(uow, dataset_id, utcnow())
        return updated

    async def delete_sample(self, dataset_id: str, sample_id: str) -> None:
        async with self.store.unit() as uow:
            await uow.get_dataset(dataset_id, for_update=True)
            await uow.delete_sample(dataset_id, sample_id)
            await _touch(uow, dataset_id, utcnow())

    async def delete_samples(self, dataset_id: str, selection: SampleFilter) -> int:
        """Every draft sample the filter matches, in one transaction; returns how many went."""
        if selection.matches_everything:
            raise InvalidArgument(
                "deleting samples needs a filter with at least one criterion", field="filter"
            )
        async with self.store.unit() as uow:
            await uow.get_dataset(dataset_id, for_update=True)
            deleted = await uow.delete_samples(dataset_id, selection)
            if deleted:
                await _touch(uow, dataset_id, utcnow())
        return deleted

    async def relabel(
        self,
        dataset_id: str,
        selection: SampleFilter,
        *,
        set_purpose: Purpose | None = None,
        set_annotation: Annotation | object = _KEEP,
    ) -> int:
        async with self.store.unit() as uow:
            dataset = await uow.get_dataset(dataset_id, for_update=True)
            draft = await uow.draft_samples(dataset_id)
            kwargs: dict[str, Any] = {"set_purpose": set_purpose}
            if set_annotation is not _KEEP:
                kwargs["set_annotation"] = set_annotation
            changed = relabel(draft, selection, scenario=dataset.scenario, **kwargs)
            await uow.update_samples(dataset_id, changed)
            await _touch(uow, dataset_id, utcnow())
        return len(changed)

    async def split(self, dataset_id: str, ratios: SplitRatios, seed: int) -> SplitPlan:
        async with self.store.unit() as uow:
            dataset = await uow.get_dataset(dataset_id, for_update=True)
            draft = await uow.draft_samples(dataset_id)
            plan = plan_split(dataset.scenario, draft, ratios, seed)
            await uow.update_samples(dataset_id, plan.apply(draft))
            await _touch(uow, dataset_id, utcnow())
        return plan

    # --- versions -------------------------------------------------------------------------------

    async def publish(self, dataset_id: str, *, author: str, message: str = "") -> VersionRecord:
        """Exactly one version per draft state: publishes of a dataset queue on its row (or SQLite's
        write lock), and the loser finds the draft unchanged since the winner's version.

        Cost grows with the draft's size only through reading one stored JSON column per sample,
        hashing and compressing: samples were validated and their entries serialised when they were
        written, so nothing here builds a domain object per sample, and the database writes entry
        rows only for samples changed since the previous version (store.add_version_of_draft).
        """
        blobs = await self._ready_blobs()
        async with self.store.unit() as uow:
            dataset = await uow.get_dataset(dataset_id, for_update=True)
            draft = await uow.draft_manifest(dataset_id)
            check_publishable(draft.sample_count, message)
            manifest_bytes = manifest_document(draft.entry_documents)
            digest = hashlib.sha256(manifest_bytes).hexdigest()
            check_draft_changed(await uow.latest_version(dataset_id), digest)
            now = utcnow()
            record = VersionRecord(
                dataset_id=dataset_id,
                number=dataset.next_version_number(),
                scenario=dataset.scenario,
                state=VersionState.PUBLISHED,
                manifest_digest=digest,
                author=author,
                message=message,
                created_at=now,
                sample_count=draft.sample_count,
                total_bytes=draft.total_bytes,
                counts_per_purpose=draft.counts_per_purpose,
                counts_per_label=draft.counts_per_label,
            )
            # Compressed and stored while the database writes the rows; awaited inside the
            # transaction, so a version never commits without its manifest object.
            saving = asyncio.create_task(save_manifest(blobs, manifest_bytes, digest))
            try:
                await uow.advance_version(dataset_id, dataset.latest_version, now)
                await uow.add_version_of_draft(record)
                await events.version_published(uow.session, record)
            except BaseException:
                # A stored manifest no version names is collected by _sweep_manifests.
                saving.cancel()
                await asyncio.gather(saving, return_exceptions=True)
                raise
            await saving
        return record

    async def list_versions(
        self, dataset_id: str, include_archived: bool, offset: int, limit: int
    ) -> Page[VersionRecord]:
        async with self.store.unit() as uow:
            await uow.get_dataset(dataset_id)
            return await uow.list_versions(dataset_id, include_archived, offset, limit)

    async def get_version(self, dataset_id: str, number: int) -> VersionRecord:
        async with self.store.unit() as uow:
            return await uow.get_version(dataset_id, number)

    async def diff_versions(self, dataset_id: str, from_number: int, to_number: int) -> ManifestDiff:
        async with self.store.unit() as uow:
            manifests = []
            for number in (from_number, to_number):
                if number == 0:
                    manifests.append(Manifest.of(await uow.draft_samples(dataset_id)))
                else:
                    await uow.get_version(dataset_id, number)
                    manifests.append(await uow.version_manifest(dataset_id, number))
        return diff_manifests(manifests[0], manifests[1])

    async def set_archived(self, dataset_id: str, number: int, archived: bool) -> VersionRecord:
        state = VersionState.ARCHIVED if archived else VersionState.PUBLISHED
        async with self.store.unit() as uow:
            await uow.get_dataset(dataset_id, for_update=True)
            version = await uow.get_version(dataset_id, number)
            if version.state is not state:
                await uow.set_version_state(dataset_id, number, state)
                await events.version_archived(uow.session, dataset_id, number, archived)
            return await uow.get_version(dataset_id, number)

    async def restore(self, dataset_id: str, number: int) -> int:
        """The draft becomes exactly the version's content; what the draft held is dropped."""
        async with self.store.unit() as uow:
            await uow.get_dataset(dataset_id, for_update=True)
            await uow.get_version(dataset_id, number)
            manifest = await uow.version_manifest(dataset_id, number)
            # New sample ids: the draft's rows are its own, whichever version they came from.
            restored = [entry.to_sample() for entry in manifest.entries]
            await uow.clear_draft(dataset_id)
            now = utcnow()
            await uow.add_samples(dataset_id, restored, now)
            await _touch(uow, dataset_id, now)
        return len(restored)

    async def delete_version(self, dataset_id: str, number: int, caller: Principal) -> None:
        async with self.store.unit() as uow:
            dataset = await uow.get_dataset(dataset_id, for_update=True)
            authorize_removal(
                dataset.owner, caller.subject, may_operate=_may_operate(caller), what=f"version {number}"
            )
            # Locked: a use recorded meanwhile (RunQueued, a registered model) is seen, or waits and
            # then finds the version gone.
            version = await uow.get_version(dataset_id, number, for_update=True)
            check_version_deletable(version)
            await uow.delete_version(dataset_id, number)
        await self._drop_manifests([version.manifest_digest])

    async def _drop_manifests(self, digests: Collection[str]) -> None:
        """Manifest objects no remaining version names (identical drafts share one)."""
        async with self.store.unit() as uow:
            orphans = set(digests) - await uow.referenced_blobs(digests)
        blobs = await self._ready_blobs()
        for digest in orphans:
            await blobs.delete_object(manifest_key(digest))

    async def download(
        self, dataset_id: str, number: int, archive_format: ArchiveFormat, frame: Framing | None = None
    ) -> AsyncIterator[bytes]:
        """The version's archive in chunks (see download.py): checked against the version's manifest
        digest before the first chunk, and again by the time the last one leaves."""
        blobs = await self._ready_blobs()
        async with self.store.unit() as uow:
            version = await uow.get_version(dataset_id, number)
        settings = self.settings
        entries = VersionEntries(
            self.store,
            dataset_id,
            number,
            version.manifest_digest,
            page_size=settings.download_page_entries,
            with_checksums=settings.download_verification is Verification.CRC32,
        )
        manifest = await entries.spool_manifest()
        policy = ArchivePolicy(
            level=settings.download_compression_level,
            deflate_max_ratio=settings.download_deflate_max_ratio,
            window=settings.download_prefetch_window,
            depth=settings.download_prefetch_depth,
        )
        return stream_archive(
            blobs,
            entries,
            manifest,
            archive_format,
            chunk_size=settings.download_chunk_bytes,
            policy=policy,
            frame=frame,
        )

    async def download_plan(
        self, dataset_id: str, number: int, expires_seconds: int, page_size: int = 0, page_token: str = ""
    ) -> DownloadPlan:
        """A page of the version's plan: presigned URLs for its manifest and for the blobs of up to
        `page_size` entries, in archive order (DownloadVersion's archive, built by the client from the
        object store, which checks the entries against the manifest's digest)."""
        expires_seconds = expiry_seconds(expires_seconds)
        size = page_entries(page_size)
        after = name_before_page(page_token)
        blobs = await self._ready_blobs()
        async with self.store.unit() as uow:
            version = await uow.get_version(dataset_id, number)
            # One more than the page: whether another page follows.
            entries = await stored_entries_after(uow, dataset_id, number, after, size + 1)
            entries = entries[:size] if (more := len(entries) > size) else entries
        page = PlanPage(
            manifest_digest=version.manifest_digest,
            entries=entries,
            next_page_token=page_token_after(entries[-1].name) if more else "",
            total_entries=version.sample_count,
        )
        return await asyncio.to_thread(sign_plan, blobs, page, expires_seconds)

    # --- retention ------------------------------------------------------------------------------

    async def collect_garbage(self, *, dry_run: bool = False) -> GarbageReport:
        """Mark and sweep: blobs older than the grace period that no draft, version or reservation
        names. A blob is marked doomed before the references are read again and before it is
        deleted; uploads reserve first and check marks second, so one of the two always sees the other.

        One collection at a time, across replicas: a collection that ends unmarks its blobs, which
        would lift the marks of another still deleting the same ones."""
        async with self.store.exclusive("dataset.collect-garbage"):
            return await self._collect_garbage(dry_run)

    async def _collect_garbage(self, dry_run: bool) -> GarbageReport:
        blobs = await self._ready_blobs()
        now = utcnow()
        cutoff = now - timedelta(seconds=self.settings.gc_grace_seconds)
        async with self.store.unit() as uow:
            await uow.expire_reservations(now - timedelta(seconds=self.settings.reservation_ttl_seconds))
        candidates: dict[str, int] = {}
        async for info in blobs.iter_blobs():
            if info.last_modified is not None and _before(info.last_modified, cutoff):
                candidates[info.sha256] = info.size
        removed = 0
        freed = 0
        for chunk in _chunked(list(candidates), 1000):
            async with self.store.unit() as uow:
                garbage = set(chunk) - await uow.referenced_blobs(chunk)
            if not garbage:
                continue
            if dry_run:
                removed += len(garbage)
                freed += sum(candidates[d] for d in garbage)
                continue
            async with self.store.unit() as uow:
                await uow.mark_doomed(garbage, utcnow())
            async with self.store.unit() as uow:
                saved = await uow.referenced_blobs(garbage)
                await uow.unmark_doomed(saved)
            garbage -= saved
            try:
                for digest in sorted(garbage):
                    await blobs.delete_blob(digest)
                    removed += 1
                    freed += candidates[digest]
            finally:
                async with self.store.unit() as uow:
                    await uow.unmark_doomed(garbage)
        policy = PackPolicy(repack_garbage_fraction=self.settings.repack_garbage_fraction)
        packs = await sweep_packs(self.store, blobs, cutoff, dry_run, utcnow(), policy)
        removed += packs.removed_blobs
        freed += packs.freed_bytes
        manifests_removed, manifest_bytes = await self._sweep_manifests(blobs, cutoff, dry_run)
        removed += manifests_removed
        freed += manifest_bytes
        if not dry_run:
            async with self.store.unit() as uow:
                await uow.forget_unreferenced_checksums()
        log.info(
            "garbage collected",
            extra={
                "fields": {
                    "blobs_removed": removed,
                    "bytes_freed": freed,
                    "packs_rewritten": packs.repacked,
                    "dry_run": dry_run,
                }
            },
        )
        return GarbageReport(removed, freed, packs.repacked)

    async def _sweep_manifests(self, blobs: ObjectStore, cutoff: datetime, dry_run: bool) -> tuple[int, int]:
        """Manifest objects of publishes that stored theirs and then failed to commit."""
        sizes: dict[str, int] = {}
        async for info in blobs.iter_objects(MANIFEST_PREFIX):
            if info.last_modified is not None and _before(info.last_modified, cutoff):
                sizes[digest_of_key(info.key)] = info.size
        if not sizes:
            return 0, 0
        async with self.store.unit() as uow:
            orphans = set(sizes) - await uow.referenced_blobs(list(sizes))
        if not dry_run:
            for digest in orphans:
                await blobs.delete_object(manifest_key(digest))
        return len(orphans), sum(sizes[d] for d in orphans)

    # --- demo data ------------------------------------------------------------------------------

    async def load_demo(
        self, *, owner: str, scenario: Scenario, name: str = "", seed: int = 0, publish: bool = False
    ) -> tuple[DatasetView, VersionRecord | None]:
        """Generated files go through the same ingest path as any upload, then split and published."""
        with tempfile.TemporaryDirectory(prefix="mlops-demo-") as directory:
            demo = await asyncio.to_thread(generate_demo, scenario, Path(directory), seed)
            view = await self.create_dataset(
                owner=owner,
                name=name or demo.name,
                scenario=scenario,
                description=demo.description,
                tags=demo.tags,
            )
            dataset_id = view.dataset.dataset_id
            streams = [file.path.open("rb") for file in demo.files]
            try:
                await self.ingest(
                    dataset_id, [UploadFile(f.spec, s) for f, s in zip(demo.files, streams, strict=True)]
                )
            finally:
                for stream in streams:
                    stream.close()
        await self.split(dataset_id, demo.ratios, demo.seed)
        version = None
        if publish:
            version = await self.publish(dataset_id, author=owner, message=f"demo dataset (seed {seed})")
        return await self.get_dataset(dataset_id), version


def _read_annotations(
    files: Sequence[UploadFile], scenario: Scenario, limits: IngestLimits
) -> tuple[list[AnnotationsFile], list[UploadFile]]:
    """Runs in a worker thread: the upload's annotations files, read and checked, and its other files."""
    annotations: list[AnnotationsFile] = []
    others: list[UploadFile] = []
    for upload in files:
        if is_annotations_file(upload.stream, upload.spec):
            annotations.append(
                read_annotations_file(upload.stream, scenario=scenario, spec=upload.spec, limits=limits)
            )
        else:
            others.append(upload)
    return annotations, others


async def _annotate(
    uow: DatasetUnit, dataset: Dataset, staged: list[Sample], files: Sequence[AnnotationsFile]
) -> tuple[list[Sample], list[Sample]]:
    """The upload's samples with the boxes its annotations files give them, and the draft samples the
    files annotate. Called once clashes are settled: a draft sample the upload replaces is not read."""
    if not files:
        return staged, []
    uploaded = {sample.name: sample for sample in staged}
    drafts = await uow.samples_named(dataset.dataset_id, annotated_names(files) - uploaded.keys())
    annotated = annotate(files, {**{s.name: s for s in drafts}, **uploaded}, dataset.scenario)
    changed = {sample.name: sample for sample in annotated}
    return [changed.get(s.name, s) for s in staged], [s for s in annotated if s.name not in uploaded]


def _read_all(
    files: Sequence[UploadFile], scenario: Scenario, limits: IngestLimits
) -> Iterator[IngestedSample]:
    for upload in files:
        yield from read_upload(upload.stream, scenario=scenario, spec=upload.spec, limits=limits)


def _next_batch(samples: Iterator[IngestedSample]) -> list[IngestedSample]:
    """Runs in a worker thread: reading, hashing and validating is the CPU-heavy part of an upload."""
    return list(itertools.islice(samples, _BATCH))


def _size_of(stream: IO[bytes]) -> int:
    position = stream.tell()
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(position)
    return size


async def _touch(uow: DatasetUnit, dataset_id: str, now: datetime) -> None:
    dataset = await uow.get_dataset(dataset_id)
    await uow.save_dataset(dataset.update(now=now))


def _before(moment: datetime, cutoff: datetime) -> bool:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=cutoff.tzinfo)
    return moment < cutoff


def _chunked(values: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
