"""A version as a tar.gz or zip archive, written incrementally so memory stays flat whatever its size.

Shared by the dataset service (which streams the archive to its client) and by clients that read the
blobs straight from the object store: both write the same members, names and compression. Blobs
arrive as BlobFiles from a Prefetcher; the archive goes to any writable `Sink` (the service's
ChunkSink, which cuts it into transport messages, or a plain file).

Compression is chosen per member: already-compressed media is stored, and other content is deflated
only when a probe of its first bytes shows that deflate pays (see `deflate_pays`).
"""

from __future__ import annotations

import dataclasses
import io
import queue
import shutil
import struct
import tarfile
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import IO, Any, Protocol

from .checksum import crc32
from .prefetch import READ_SIZE, BlobFile, Cancelled

# zipfile computes every member's CRC-32 with zlib's (~0.3 CPU-s per GiB here); ISA-L's computes the
# same function at a third of that cost. Same values, so every zipfile user in the process is only
# faster; there is no other way to give zipfile a CRC function.
zipfile.crc32 = crc32  # type: ignore[attr-defined]

# The header a transport puts in front of a chunk of n bytes to make it a message of its own.
Framing = Callable[[int], bytes]
MANIFEST_NAME = "manifest.json"
# Deflating these again costs CPU and saves nothing: they are stored as they are.
ALREADY_COMPRESSED = frozenset({"image/png", "image/jpeg", "application/gzip", "application/zip"})
_PROBE_BYTES = 16 * 1024
# Deflate at a fast level runs at tens of MB/s on content that barely compresses (random-looking
# text, encrypted or encoded data) and at hundreds on content that compresses well (logs, CSV,
# JSON: 3-10x). Below this probe ratio deflate both saves most bytes and keeps up with S3.
DEFLATE_MAX_RATIO = 0.5
PREFETCH_WINDOW = 4
PREFETCH_DEPTH = 4
# (member name, blob) in archive order, after the manifest.
Members = Iterable[tuple[str, BlobFile[Any]]]


class Sink(Protocol):
    """Where an archive goes: what zipfile asks of an unseekable file."""

    def write(self, data: Any, /) -> int: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class ManifestFile:
    """manifest.json's bytes as a readable file of known size: a version's manifest can be larger
    than a download should hold in memory, so the service spools it (see services/dataset/download.py)."""

    stream: IO[bytes]
    size: int

    @classmethod
    def of(cls, document: bytes) -> ManifestFile:
        return cls(io.BytesIO(document), len(document))


class ArchiveFormat(StrEnum):
    TAR_GZ = "tar.gz"
    ZIP = "zip"


def deflate_pays(blob: BlobFile[Any], level: int, max_ratio: float) -> bool:
    """Whether deflating this member is worth its CPU: never for compressed media, else by a probe."""
    if level <= 0 or blob.entry.media_type in ALREADY_COMPRESSED or blob.entry.size_bytes == 0:
        return False
    if max_ratio >= 1.0:
        return True
    probe = blob.peek(_PROBE_BYTES)
    return len(zlib.compress(probe, 1)) <= max_ratio * len(probe)


class ChunkSink(io.RawIOBase):
    """A write-only, unseekable file whose bytes leave in chunks through the queue.

    Pieces are kept as views (of immutable bytes) and joined once per chunk: one copy per byte. A
    transport's message header (`frame`) is joined in front of each chunk in that same copy.
    """

    def __init__(
        self,
        chunks: queue.Queue[Any],
        chunk_size: int,
        cancelled: threading.Event,
        frame: Framing | None = None,
    ) -> None:
        self._chunks = chunks
        self._chunk_size = chunk_size
        self._cancelled = cancelled
        self._frame = frame
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
            if self._frame is not None:
                self._pieces.insert(0, memoryview(self._frame(self._pending)))
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

    def __init__(self, sink: Sink) -> None:
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
            self._crc = crc32(view, self._crc)
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


def write_tar_gz(sink: Sink, members: Members, manifest: ManifestFile, policy: ArchivePolicy) -> None:
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
        info.size, info.mtime, info.mode = manifest.size, mtime, 0o644
        archive.addfile(info, manifest.stream)
        for name, blob in members:
            entry = blob.entry
            packed.use(policy.level if deflate_pays(blob, policy.level, policy.deflate_max_ratio) else 0)
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = entry.size_bytes, mtime, 0o644
            archive.addfile(info, blob)
            # TarFile keeps every member it wrote (for getmembers); a writer never asks, and a version
            # of a million samples would hold a million TarInfos.
            archive.members.clear()
    packed.close()


def write_zip(sink: Sink, members: Members, manifest: ManifestFile, policy: ArchivePolicy) -> None:
    stamp = time.localtime()[:6]
    level = max(policy.level, 0)
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        info = zipfile.ZipInfo(MANIFEST_NAME, stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        info._compresslevel = level  # type: ignore[attr-defined]
        info.file_size = manifest.size
        with archive.open(info, mode="w", force_zip64=True) as target:
            shutil.copyfileobj(manifest.stream, target, READ_SIZE)
        for name, blob in members:
            entry = blob.entry
            info = zipfile.ZipInfo(name, stamp)
            deflate = deflate_pays(blob, policy.level, policy.deflate_max_ratio)
            info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
            # ZipFile.open with a ZipInfo ignores the archive's compresslevel (zlib's 6 otherwise).
            info._compresslevel = level  # type: ignore[attr-defined]
            info.file_size = entry.size_bytes
            with archive.open(info, mode="w", force_zip64=True) as target:
                while data := blob.read(READ_SIZE):
                    target.write(data)


def write_archive(
    archive_format: ArchiveFormat, sink: Sink, members: Members, manifest: ManifestFile, policy: ArchivePolicy
) -> None:
    """manifest.json, then every member, in `archive_format` to `sink`."""
    write = write_tar_gz if archive_format is ArchiveFormat.TAR_GZ else write_zip
    write(sink, members, manifest, policy)
