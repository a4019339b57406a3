"""A version as a tar.gz or zip archive, built incrementally so memory stays flat whatever its size.

The archive writer runs in a worker thread: tarfile, zipfile and gzip are synchronous, and so is
reading blobs with the minio SDK. It writes into a sink that cuts the output into chunks and hands
them over through a small bounded queue, so a slow client slows the writer instead of filling memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import io
import queue
import tarfile
import threading
import time
import zipfile
from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Any

from mlops.kernel.errors import DomainError, InvalidArgument
from mlops.kernel.objectstore import BlobCorrupted, ObjectStore, blob_key

from .domain import Manifest, ManifestEntry
from .ingest import safe_relative_path

MANIFEST_NAME = "manifest.json"
_QUEUE_DEPTH = 4
_READ_SIZE = 1024 * 1024
_DONE = object()
# Deflating these again costs CPU and saves nothing; zip stores them as they are.
ALREADY_COMPRESSED = frozenset({"image/png", "image/jpeg", "application/gzip", "application/zip"})


class ArchiveFormat(StrEnum):
    TAR_GZ = "tar.gz"
    ZIP = "zip"


class _Cancelled(Exception):
    """The client went away: the writer thread stops."""


def member_name(entry: ManifestEntry) -> str:
    """Where a sample goes in the archive; a name unsafe as a path falls back to its content hash."""
    try:
        return "samples/" + safe_relative_path(entry.name, field="name")
    except InvalidArgument:
        return f"samples/{entry.sha256}"


class _ChunkSink(io.RawIOBase):
    """A write-only, unseekable file whose bytes leave in chunks through the queue."""

    def __init__(self, chunks: queue.Queue[Any], chunk_size: int, cancelled: threading.Event) -> None:
        self._chunks = chunks
        self._chunk_size = chunk_size
        self._cancelled = cancelled
        self._buffer = bytearray()
        self.written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._buffer += view
        self.written += len(view)
        while len(self._buffer) >= self._chunk_size:
            self._send(bytes(self._buffer[: self._chunk_size]))
            del self._buffer[: self._chunk_size]
        return len(view)

    def drain(self) -> None:
        if self._buffer:
            self._send(bytes(self._buffer))
            self._buffer.clear()

    def _send(self, item: Any) -> None:
        while True:
            if self._cancelled.is_set():
                raise _Cancelled
            try:
                self._chunks.put(item, timeout=0.2)
                return
            except queue.Full:
                continue


class _BlobReader(io.RawIOBase):
    """A blob as a readable file, hashed as it is read so a corrupted blob fails the download."""

    def __init__(self, store: ObjectStore, entry: ManifestEntry) -> None:
        self._entry = entry
        self._response = store.client.get_object(bucket_name=store.bucket, object_name=blob_key(entry.sha256))
        self._hash = hashlib.sha256()
        self._read = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._response.read(size if size and size > 0 else _READ_SIZE)
        self._hash.update(data)
        self._read += len(data)
        if not data or self._read == self._entry.size_bytes:
            self._check()
        return data

    def _check(self) -> None:
        if self._read == self._entry.size_bytes and self._hash.hexdigest() == self._entry.sha256:
            return
        raise BlobCorrupted(f"blob of sample {self._entry.name!r} does not match its manifest entry")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._response.close()
            self._response.release_conn()
        super().close()


def _write_tar_gz(
    sink: _ChunkSink, store: ObjectStore, manifest: Manifest, manifest_bytes: bytes, level: int
) -> None:
    mtime = time.time()
    with gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=level, mtime=0) as packed:
        # tarfile copies members 16 KiB at a time by default: big reads keep per-call overhead low.
        with tarfile.open(
            fileobj=packed, mode="w|", format=tarfile.PAX_FORMAT, copybufsize=_READ_SIZE
        ) as archive:  # type: ignore[call-overload]  # the stubs miss TarFile's copybufsize
            info = tarfile.TarInfo(MANIFEST_NAME)
            info.size, info.mtime, info.mode = len(manifest_bytes), mtime, 0o644
            archive.addfile(info, io.BytesIO(manifest_bytes))
            for entry in manifest.entries:
                info = tarfile.TarInfo(member_name(entry))
                info.size, info.mtime, info.mode = entry.size_bytes, mtime, 0o644
                reader = _BlobReader(store, entry)
                try:
                    archive.addfile(info, reader)
                finally:
                    reader.close()


def _write_zip(
    sink: _ChunkSink, store: ObjectStore, manifest: Manifest, manifest_bytes: bytes, level: int
) -> None:
    stamp = time.localtime()[:6]
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        archive.writestr(zipfile.ZipInfo(MANIFEST_NAME, stamp), manifest_bytes)
        for entry in manifest.entries:
            info = zipfile.ZipInfo(member_name(entry), stamp)
            packed = level == 0 or entry.media_type in ALREADY_COMPRESSED
            info.compress_type = zipfile.ZIP_STORED if packed else zipfile.ZIP_DEFLATED
            info.file_size = entry.size_bytes
            reader = _BlobReader(store, entry)
            try:
                with archive.open(info, mode="w", force_zip64=True) as target:
                    while data := reader.read(_READ_SIZE):
                        target.write(data)
            finally:
                reader.close()


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
) -> AsyncIterator[bytes]:
    """The archive's bytes in chunks of about `chunk_size`. Closing the iterator early stops the writer."""
    chunks: queue.Queue[Any] = queue.Queue(maxsize=_QUEUE_DEPTH)
    cancelled = threading.Event()
    sink = _ChunkSink(chunks, chunk_size, cancelled)
    write = _write_tar_gz if archive_format is ArchiveFormat.TAR_GZ else _write_zip

    def produce() -> None:
        try:
            write(sink, store, manifest, manifest_bytes, level)
            sink.drain()
            sink._send(_DONE)
        except _Cancelled:
            return
        except BaseException as error:  # handed to the consumer, which raises it
            with contextlib.suppress(_Cancelled):
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
        cancelled.set()
        # Unblock a writer waiting on a full queue, then wait for it to notice.
        while not writer.done():
            with contextlib.suppress(queue.Empty):
                chunks.get_nowait()
            await asyncio.sleep(0.01)
