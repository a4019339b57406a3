"""A version as a tar.gz or zip archive streamed to the client, memory flat whatever its size.

The archive writer (mlops.datasets.archive, shared with clients that read S3 directly) runs in a
worker thread: tarfile, zipfile and zlib are synchronous, and so is reading blobs with the minio SDK.
Blobs arrive through a Prefetcher (a few read ahead in parallel, hashed by their readers), so reads
overlap the writing. The writer writes into a sink that cuts the output into chunks and hands them
over through a small bounded queue, so a slow client slows the writer instead of filling memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Mapping
from typing import Any

from mlops.datasets.archive import ArchiveFormat, ArchivePolicy, ChunkSink, Framing, write_archive
from mlops.datasets.prefetch import Cancelled, Prefetcher
from mlops.kernel.errors import DomainError, InvalidArgument
from mlops.kernel.objectstore import ObjectStore

from .domain import Manifest, ManifestEntry
from .ingest import safe_relative_path
from .prefetch import s3_opener
from .store import PackedBlob

_QUEUE_DEPTH = 4
_DONE = object()


def member_name(entry: ManifestEntry) -> str:
    """Where a sample goes in the archive; a name unsafe as a path falls back to its content hash."""
    try:
        return "samples/" + safe_relative_path(entry.name, field="name")
    except InvalidArgument:
        return f"samples/{entry.sha256}"


def _take(chunks: queue.Queue[Any], cancelled: threading.Event) -> Any:
    """The next chunk; a thread never waits past a cancelled download."""
    while not cancelled.is_set():
        with contextlib.suppress(queue.Empty):
            return chunks.get(timeout=0.2)
    return _DONE


async def stream_archive(
    store: ObjectStore,
    manifest: Manifest,
    manifest_bytes: bytes,
    archive_format: ArchiveFormat,
    *,
    chunk_size: int = 1024 * 1024,
    level: int = 1,
    policy: ArchivePolicy | None = None,
    packed: Mapping[str, PackedBlob] | None = None,
    frame: Framing | None = None,
    checksums: Mapping[str, int] | None = None,
) -> AsyncIterator[bytes]:
    """The archive's bytes in chunks of about `chunk_size`. Closing the iterator early stops the writer.

    `policy` wins over `level` when given (`level` alone keeps the other choices at their defaults).
    `packed` says which blobs lie in pack objects, and where. `frame`, when given, heads every chunk
    with its header (the chunks are then ready-made transport messages, built without another copy).
    `checksums` (SHA-256 to CRC-32) lets blobs be checked against their CRC-32 instead of SHA-256.
    """
    policy = policy or ArchivePolicy(level=level)
    chunks: queue.Queue[Any] = queue.Queue(maxsize=_QUEUE_DEPTH)
    blobs = Prefetcher(
        manifest.entries,
        s3_opener(store, packed or {}),
        window=policy.window,
        depth=policy.depth,
        crc_of=lambda entry: (checksums or {}).get(entry.sha256),
    )
    cancelled = blobs.cancelled
    sink = ChunkSink(chunks, chunk_size, cancelled, frame)
    members = ((member_name(blob.entry), blob) for blob in blobs)

    def produce() -> None:
        try:
            write_archive(archive_format, sink, members, manifest_bytes, policy)
            sink.drain()
            sink._send(_DONE)
        except Cancelled:
            return
        except BaseException as error:  # handed to the consumer, which raises it
            with contextlib.suppress(Cancelled):
                sink._send(error)

    writer = asyncio.get_running_loop().run_in_executor(None, produce)
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
