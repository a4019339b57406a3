"""A version as a tar.gz or zip archive, built incrementally so memory stays flat whatever its size.

The archive writer runs in a worker thread: tarfile, zipfile and zlib are synchronous, and so is
reading blobs with the minio SDK. Blobs arrive through a Prefetcher (a few read ahead in parallel,
hashed by their readers), so reads overlap the writing. The writer writes into a sink that cuts the
output into chunks and hands them over through a small bounded queue, so a slow client slows the
writer instead of filling memory.

Compression is chosen per member: already-compressed media is stored, and other content is deflated
only when a probe of its first bytes shows that deflate pays (see `deflate_pays`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import queue
import struct
import tarfile
import threading
import time
import zipfile
import zlib
from collections.abc import AsyncIterator, Mapping
from enum import StrEnum
from typing import Any

from mlops.kernel.errors import DomainError, InvalidArgument
from mlops.kernel.objectstore import ObjectStore

from .domain import Manifest, ManifestEntry
from .ingest import safe_relative_path
from .prefetch import READ_SIZE, BlobFile, Cancelled, Prefetcher
from .store import PackedBlob

MANIFEST_NAME = "manifest.json"
_QUEUE_DEPTH = 4
_DONE = object()
# Deflating these again costs CPU and saves nothing: they are stored as they are.
ALREADY_COMPRESSED = frozenset({"image/png", "image/jpeg", "application/gzip", "application/zip"})
_PROBE_BYTES = 16 * 1024
# Deflate at a fast level runs at tens of MB/s on content that barely compresses (random-looking
# text, encrypted or encoded data) and at hundreds on content that compresses well (logs, CSV,
# JSON: 3-10x). Below this probe ratio deflate both saves most bytes and keeps up with S3.
DEFLATE_MAX_RATIO = 0.5
PREFETCH_WINDOW = 4
PREFETCH_DEPTH = 4


class ArchiveFormat(StrEnum):
    TAR_GZ = "tar.gz"
    ZIP = "zip"


def member_name(entry: ManifestEntry) -> str:
    """Where a sample goes in the archive; a name unsafe as a path falls back to its content hash."""
    try:
        return "samples/" + safe_relative_path(entry.name, field="name")
    except InvalidArgument:
        return f"samples/{entry.sha256}"


def deflate_pays(blob: BlobFile, level: int, max_ratio: float) -> bool:
    """Whether deflating this member is worth its CPU: never for compressed media, else by a probe."""
    if level <= 0 or blob.entry.media_type in ALREADY_COMPRESSED or blob.entry.size_bytes == 0:
        return False
    if max_ratio >= 1.0:
        return True
    probe = blob.peek(_PROBE_BYTES)
    return len(zlib.compress(probe, 1)) <= max_ratio * len(probe)


class _ChunkSink(io.RawIOBase):
    """A write-only, unseekable file whose bytes leave in chunks through the queue.

    Pieces are kept as views (of immutable bytes) and joined once per chunk: one copy per byte.
    """

    def __init__(self, chunks: queue.Queue[Any], chunk_size: int, cancelled: threading.Event) -> None:
        self._chunks = chunks
        self._chunk_size = chunk_size
        self._cancelled = cancelled
        self._pieces: list[memoryview] = []
        self._pending = 0
        self.written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data if isinstance(data, bytes) else bytes(data)).cast("B")
        size = len(view)
        self.written += size
        while view:
            piece = view[: self._chunk_size - self._pending]
            view = view[len(piece) :]
            self._pieces.append(piece)
            self._pending += len(piece)
            if self._pending == self._chunk_size:
                self.drain()
        return size

    def drain(self) -> None:
        if self._pieces:
            chunk = b"".join(self._pieces)
            self._pieces.clear()
            self._pending = 0
            self._send(chunk)

    def _send(self, item: Any) -> None:
        while True:
            if self._cancelled.is_set():
                raise Cancelled
            try:
                self._chunks.put(item, timeout=0.2)
                return
            except queue.Full:
                continue


_GZIP_HEADER = bytes([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF])  # deflate, no flags, no mtime, unknown OS
_STORED_BLOCK = 0xFFFF


class _GzipMembers(io.RawIOBase):
    """A gzip file written as a series of gzip members, each deflated at its own level or stored.

    One deflate stream cannot change its level from Python, but gzip readers (gzip, tarfile,
    GNU gzip, zcat) read concatenated members as one stream. Stored members are framed here
    (zlib at level 0 still pushes every byte through its window, at a third of the speed).
    """

    def __init__(self, sink: _ChunkSink) -> None:
        self._sink = sink
        self._level: int | None = None
        self._deflate: Any = None
        self._crc = 0
        self._size = 0
        self._position = 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        """Uncompressed bytes written: all that TarFile asks of a position (it never seeks)."""
        return self._position

    def use(self, level: int) -> None:
        if level == self._level:
            return
        self._finish_member()
        self._level = level
        if level > 0:
            self._deflate = zlib.compressobj(level, zlib.DEFLATED, 31)
        else:
            self._sink.write(_GZIP_HEADER)
            self._crc = self._size = 0

    def write(self, data: Any) -> int:
        if self._level is None:
            self.use(0)
        view = memoryview(data if isinstance(data, bytes) else bytes(data)).cast("B")
        if self._deflate is not None:
            if out := self._deflate.compress(view):
                self._sink.write(out)
        else:
            self._crc = zlib.crc32(view, self._crc)
            self._size += len(view)
            for start in range(0, len(view), _STORED_BLOCK):
                block = view[start : start + _STORED_BLOCK]
                self._sink.write(struct.pack("<BHH", 0, len(block), 0xFFFF ^ len(block)))
                self._sink.write(block)
        self._position += len(view)
        return len(view)

    def _finish_member(self) -> None:
        if self._deflate is not None:
            self._sink.write(self._deflate.flush())
            self._deflate = None
        elif self._level == 0:
            # An empty final stored block ends the deflate data; then CRC-32 and size mod 2**32.
            self._sink.write(struct.pack("<BHHII", 1, 0, 0xFFFF, self._crc, self._size & 0xFFFFFFFF))
        self._level = None

    def close(self) -> None:
        if not self.closed:
            if self._level is None:
                self.use(0)  # an empty archive is still a valid gzip file
            self._finish_member()
        super().close()


@dataclasses.dataclass(frozen=True)
class ArchivePolicy:
    """How an archive is built: compression level and when to use it, and the read-ahead window."""

    level: int = 1
    deflate_max_ratio: float = DEFLATE_MAX_RATIO
    window: int = PREFETCH_WINDOW
    depth: int = PREFETCH_DEPTH


def _write_tar_gz(sink: _ChunkSink, blobs: Prefetcher, manifest_bytes: bytes, policy: ArchivePolicy) -> None:
    mtime = time.time()
    packed = _GzipMembers(sink)
    packed.use(policy.level)
    # tarfile copies members 16 KiB at a time by default: big reads keep per-call overhead low.
    # Not stream mode ("w|"): it cuts every write into 10 KiB records by re-slicing its buffer, a copy
    # of the rest of the buffer per record (quadratic in the write size); TarFile never seeks.
    with tarfile.open(  # type: ignore[call-overload]  # the stubs miss TarFile's copybufsize
        fileobj=packed, mode="w", format=tarfile.PAX_FORMAT, copybufsize=READ_SIZE
    ) as archive:
        info = tarfile.TarInfo(MANIFEST_NAME)
        info.size, info.mtime, info.mode = len(manifest_bytes), mtime, 0o644
        archive.addfile(info, io.BytesIO(manifest_bytes))
        for blob in blobs:
            entry = blob.entry
            packed.use(policy.level if deflate_pays(blob, policy.level, policy.deflate_max_ratio) else 0)
            info = tarfile.TarInfo(member_name(entry))
            info.size, info.mtime, info.mode = entry.size_bytes, mtime, 0o644
            archive.addfile(info, blob)
    packed.close()


def _write_zip(sink: _ChunkSink, blobs: Prefetcher, manifest_bytes: bytes, policy: ArchivePolicy) -> None:
    stamp = time.localtime()[:6]
    level = max(policy.level, 0)
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        archive.writestr(zipfile.ZipInfo(MANIFEST_NAME, stamp), manifest_bytes)
        for blob in blobs:
            entry = blob.entry
            info = zipfile.ZipInfo(member_name(entry), stamp)
            deflate = deflate_pays(blob, policy.level, policy.deflate_max_ratio)
            info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
            # ZipFile.open with a ZipInfo ignores the archive's compresslevel (zlib's 6 otherwise).
            info._compresslevel = level  # type: ignore[attr-defined]
            info.file_size = entry.size_bytes
            with archive.open(info, mode="w", force_zip64=True) as target:
                while data := blob.read(READ_SIZE):
                    target.write(data)


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
) -> AsyncIterator[bytes]:
    """The archive's bytes in chunks of about `chunk_size`. Closing the iterator early stops the writer.

    `policy` wins over `level` when given (`level` alone keeps the other choices at their defaults).
    `packed` says which blobs lie in pack objects, and where.
    """
    policy = policy or ArchivePolicy(level=level)
    chunks: queue.Queue[Any] = queue.Queue(maxsize=_QUEUE_DEPTH)
    blobs = Prefetcher(store, manifest.entries, window=policy.window, depth=policy.depth, packed=packed)
    cancelled = blobs.cancelled
    sink = _ChunkSink(chunks, chunk_size, cancelled)
    write = _write_tar_gz if archive_format is ArchiveFormat.TAR_GZ else _write_zip

    def produce() -> None:
        try:
            write(sink, blobs, manifest_bytes, policy)
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
