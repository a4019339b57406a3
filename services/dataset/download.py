"""A version as a tar.gz or zip archive streamed to the client, memory flat whatever its size and its
number of samples.

The version's entries are read from the database a page at a time, twice: once to write manifest.json
into a spooled temporary file (checked against the version's digest before any byte is sent, and of a
known size, which tar's header needs), once more as the blobs are written, each page with its blobs'
pack locations and CRC-32s. The second pass is hashed too and must give the digest again, or the
stream ends with DATA_LOSS instead of completing.

The archive writer (mlops.datasets.archive, shared with clients that read S3 directly) runs in a
worker thread: tarfile, zipfile and zlib are synchronous, and so is reading blobs with the minio SDK.
Blobs arrive through a Prefetcher (a few read ahead in parallel, checked by their readers), so reads
overlap the writing. The writer writes into a sink that cuts the output into chunks and hands them
over through a small bounded queue, so a slow client slows the writer instead of filling memory.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import queue
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

from mlops.datasets.archive import (
    ArchiveFormat,
    ArchivePolicy,
    ChunkSink,
    Framing,
    ManifestFile,
    write_archive,
)
from mlops.datasets.prefetch import Cancelled, Prefetcher
from mlops.kernel.errors import DomainError, InvalidArgument
from mlops.kernel.objectstore import BlobCorrupted, ObjectStore

from .domain import ManifestEntry, ManifestWriter
from .ingest import safe_relative_path
from .prefetch import StoredEntry, s3_opener, stored_entries_after
from .store import DatasetStore

_QUEUE_DEPTH = 4
_DONE = object()
# manifest.json stays in memory up to this size, then moves to a temporary file.
_MANIFEST_IN_MEMORY = 8 * 1024 * 1024
_POLL_SECONDS = 0.2
T = TypeVar("T")


def member_name(entry: ManifestEntry | StoredEntry) -> str:
    """Where a sample goes in the archive; a name unsafe as a path falls back to its content hash."""
    try:
        return "samples/" + safe_relative_path(entry.name, field="name")
    except InvalidArgument:
        return f"samples/{entry.sha256}"


class VersionEntries:
    """A published version's entries, read page by page in manifest order (names by code point)."""

    def __init__(
        self,
        store: DatasetStore,
        dataset_id: str,
        number: int,
        manifest_digest: str,
        *,
        page_size: int,
        with_checksums: bool,
    ) -> None:
        self._store = store
        self._dataset_id = dataset_id
        self._number = number
        self._digest = manifest_digest
        self._page_size = max(1, page_size)
        self._with_checksums = with_checksums

    async def page_after(self, after: str | None) -> list[StoredEntry]:
        async with self._store.unit() as uow:
            return await stored_entries_after(
                uow,
                self._dataset_id,
                self._number,
                after,
                self._page_size,
                with_checksums=self._with_checksums,
            )

    async def spool_manifest(self) -> ManifestFile:
        """manifest.json in a temporary file, checked against the version's digest (BlobCorrupted,
        DATA_LOSS, when the stored entries no longer hash to it)."""
        spool = tempfile.SpooledTemporaryFile(max_size=_MANIFEST_IN_MEMORY, prefix="mlops-manifest-")
        try:
            writer, hasher = ManifestWriter(), hashlib.sha256()

            def emit(part: bytes) -> None:
                hasher.update(part)
                spool.write(part)

            emit(writer.start())
            after: str | None = None
            while page := await self._documents_after(after):
                emit(writer.entries(document for _, document in page))
                after = page[-1][0]
            emit(writer.end())
            self._check(hasher.hexdigest())
            size = spool.tell()
            spool.seek(0)
            return ManifestFile(spool, size)  # type: ignore[arg-type]
        except BaseException:
            spool.close()
            raise

    async def _documents_after(self, after: str | None) -> list[tuple[str, str]]:
        async with self._store.unit() as uow:
            entries = await uow.manifest_entries_after(self._dataset_id, self._number, after, self._page_size)
        return [(entry.name, entry.canonical()) for entry in entries]

    def in_thread(self, loop: asyncio.AbstractEventLoop, cancelled: threading.Event) -> Iterator[StoredEntry]:
        """Every entry, for the archive writer's thread: pages are read on `loop` as the writer
        reaches them, and the entries must hash to the digest again (a version deleted or changed
        under the download ends it with DATA_LOSS)."""
        writer, hasher = ManifestWriter(), hashlib.sha256()
        hasher.update(writer.start())
        after: str | None = None
        while page := _wait(asyncio.run_coroutine_threadsafe(self.page_after(after), loop), cancelled):
            hasher.update(writer.entries(stored.entry.canonical() for stored in page))
            yield from page
            after = page[-1].name
        hasher.update(writer.end())
        self._check(hasher.hexdigest())

    def _check(self, digest: str) -> None:
        if digest != self._digest:
            raise BlobCorrupted(
                f"version {self._number}'s stored entries no longer hash to its manifest digest",
                field="number",
            )


def _wait(future: concurrent.futures.Future[T], cancelled: threading.Event) -> T:
    """The coroutine's result; a cancelled download stops waiting (the loop may be shutting down)."""
    while True:
        try:
            return future.result(timeout=_POLL_SECONDS)
        except concurrent.futures.TimeoutError:
            if cancelled.is_set():
                future.cancel()
                raise Cancelled from None


def _take(chunks: queue.Queue[Any], cancelled: threading.Event) -> Any:
    """The next chunk; a thread never waits past a cancelled download."""
    while not cancelled.is_set():
        with contextlib.suppress(queue.Empty):
            return chunks.get(timeout=_POLL_SECONDS)
    return _DONE


async def stream_archive(
    store: ObjectStore,
    entries: VersionEntries,
    manifest: ManifestFile,
    archive_format: ArchiveFormat,
    *,
    chunk_size: int = 1024 * 1024,
    policy: ArchivePolicy | None = None,
    frame: Framing | None = None,
) -> AsyncIterator[bytes]:
    """The archive's bytes in chunks of about `chunk_size`. Closing the iterator early stops the writer.

    `frame`, when given, heads every chunk with its header (the chunks are then ready-made transport
    messages, built without another copy). Blobs are checked against their CRC-32 where the entries
    carry one, else their SHA-256.
    """
    policy = policy or ArchivePolicy()
    loop = asyncio.get_running_loop()
    chunks: queue.Queue[Any] = queue.Queue(maxsize=_QUEUE_DEPTH)
    cancelled = threading.Event()
    blobs: Prefetcher[StoredEntry] = Prefetcher(
        entries.in_thread(loop, cancelled),
        s3_opener(store),
        window=policy.window,
        depth=policy.depth,
        crc_of=lambda stored: stored.crc,
        cancelled=cancelled,
    )
    sink = ChunkSink(chunks, chunk_size, cancelled, frame)
    members = ((member_name(blob.entry), blob) for blob in blobs)

    def produce() -> None:
        try:
            write_archive(archive_format, sink, members, manifest, policy)
            sink.drain()
            sink._send(_DONE)
        except Cancelled:
            return
        except BaseException as error:  # handed to the consumer, which raises it
            with contextlib.suppress(Cancelled):
                sink._send(error)

    writer = loop.run_in_executor(None, produce)
    try:
        while True:
            item = await asyncio.to_thread(_take, chunks, cancelled)
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                if isinstance(item, DomainError):
                    raise item
                raise RuntimeError(f"building the archive failed: {item}") from item
            yield item
    finally:
        blobs.close()
        # Unblock a writer waiting on a full queue, then wait for it to notice.
        while not writer.done():
            with contextlib.suppress(queue.Empty):
                chunks.get_nowait()
            await asyncio.sleep(0.01)
        manifest.stream.close()
