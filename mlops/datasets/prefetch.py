"""Blobs read ahead in parallel, in order, with bounded memory, and verified against their digests.

One GET at a time leaves the archive writer waiting on each round trip and each blob's transfer; a
small window of readers keeps the next blobs arriving while the current one is written. Every reader
owns a queue of at most `depth` chunks, so at most `window * depth` chunks are buffered whatever the
blobs' sizes. Readers check what they read (hashlib and ISA-L release the GIL, so this runs beside the
writer on another core) against the blob's CRC-32 recorded at ingest where the caller has one, else
its SHA-256, and refuse a blob that does not match before its last bytes are handed over.

Transport-free: how a blob is opened (an S3 GET with the service's credentials, or a presigned URL)
is the caller's `open_blob`; both return an urllib3-style response.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, Protocol, TypeVar

from mlops.kernel.objectstore import BlobCorrupted

from .checksum import crc32

# Large reads: each read is handed from a reader thread to the writer through a queue, and at 1 MiB
# those handoffs (locks, GIL switches) cost a direct download about as much CPU as receiving the
# bytes (client 1.0-1.2 CPU-s per GiB at 1 MiB, 0.6-0.7 at 4 MiB; bench/dataset/README.md).
READ_SIZE = 4 * 1024 * 1024
_END = object()
_POLL_SECONDS = 0.2


class Cancelled(Exception):
    """The download was abandoned: readers and writer stop."""


class BlobEntry(Protocol):
    """What a blob must be: its sample's name (for messages), digest, size and media type."""

    @property
    def name(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def size_bytes(self) -> int: ...
    @property
    def media_type(self) -> str: ...


class BlobResponse(Protocol):
    """An open HTTP response body (urllib3's, which the minio SDK returns too)."""

    def read(self, amt: int | None = None) -> bytes: ...
    def close(self) -> None: ...
    def release_conn(self) -> None: ...


E = TypeVar("E", bound=BlobEntry)
Opener = Callable[[E], BlobResponse]


class _Fetch(Generic[E]):
    """One blob being read into its own bounded queue by a pool thread."""

    def __init__(
        self, entry: E, open_blob: Opener[E], depth: int, cancelled: threading.Event, crc: int | None
    ) -> None:
        self.entry = entry
        self._open = open_blob
        self._crc = crc
        self._chunks: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._cancelled = cancelled

    def run(self) -> None:
        try:
            self._read()
        except Cancelled:
            return
        except BaseException as error:  # handed to the writer, which raises it in its own thread
            with contextlib.suppress(Cancelled):
                self._put(error)

    def _read(self) -> None:
        entry = self.entry
        response = self._open(entry)
        try:
            check = _CrcCheck(self._crc) if self._crc is not None else _Sha256Check(entry.sha256)
            total = 0
            while data := response.read(READ_SIZE):
                total += len(data)
                check.update(data)
                if total >= entry.size_bytes:
                    self._check(total, check)
                self._put(data)
            self._check(total, check)
        finally:
            with contextlib.suppress(Exception):
                response.close()
                response.release_conn()
        self._put(_END)

    def _check(self, total: int, check: _CrcCheck | _Sha256Check) -> None:
        if total != self.entry.size_bytes or not check.matches():
            raise BlobCorrupted(
                f"blob of sample {self.entry.name!r} does not match its manifest entry ({check.name})"
            )

    def _put(self, item: Any) -> None:
        while True:
            if self._cancelled.is_set():
                raise Cancelled
            try:
                self._chunks.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue

    def take(self) -> Any:
        """The next chunk, _END, or the reader's exception (raised here)."""
        while True:
            if self._cancelled.is_set():
                raise Cancelled
            try:
                item = self._chunks.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
            if isinstance(item, BaseException):
                raise item
            return item


class _CrcCheck:
    name = "CRC-32"

    def __init__(self, expected: int) -> None:
        self._expected = expected
        self._value = 0

    def update(self, data: bytes) -> None:
        self._value = crc32(data, self._value)

    def matches(self) -> bool:
        return self._value == self._expected


class _Sha256Check:
    name = "SHA-256"

    def __init__(self, expected: str) -> None:
        self._expected = expected
        self._hasher = hashlib.sha256()

    def update(self, data: bytes) -> None:
        self._hasher.update(data)

    def matches(self) -> bool:
        return self._hasher.hexdigest() == self._expected


class BlobFile(io.RawIOBase, Generic[E]):
    """A prefetched blob as a readable file: read(n) returns n bytes until the end (tarfile insists)."""

    def __init__(self, fetch: _Fetch[E]) -> None:
        self.entry = fetch.entry
        self._fetch = fetch
        self._chunk = b""
        self._offset = 0
        self._ended = False

    def readable(self) -> bool:
        return True

    def peek(self, size: int) -> bytes:
        """Up to `size` first bytes without consuming them (at most one chunk is looked at)."""
        if self._offset == len(self._chunk):
            self._refill()
        return self._chunk[self._offset : self._offset + size]

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self.entry.size_bytes
        if self._offset == len(self._chunk) and not self._refill():
            return b""
        if self._offset == 0 and len(self._chunk) == size:
            # The usual case (reads as large as the readers' chunks): hand the chunk over uncopied.
            self._offset = size
            return self._chunk
        parts: list[bytes] = []
        wanted = size
        while wanted > 0 and (self._offset < len(self._chunk) or self._refill()):
            piece = self._chunk[self._offset : self._offset + wanted]
            self._offset += len(piece)
            parts.append(piece)
            wanted -= len(piece)
        return b"".join(parts)

    def _refill(self) -> bool:
        if self._ended:
            return False
        item = self._fetch.take()
        if item is _END:
            self._ended = True
            self._chunk, self._offset = b"", 0
            return False
        self._chunk, self._offset = item, 0
        return True


class Prefetcher(Generic[E]):
    """The entries' blobs as BlobFiles, in order, `window` of them read ahead at once.

    `crc_of` gives an entry's CRC-32 recorded at ingest, or None: blobs with one are checked against
    it, the others against their SHA-256. Entries are taken from `entries` only as readers free up,
    so it may be a lazy iterable (pages of a plan fetched as they are reached); `close()` sets
    `cancelled`, which may be passed in to stop that iterable too.
    """

    def __init__(
        self,
        entries: Iterable[E],
        open_blob: Opener[E],
        *,
        window: int,
        depth: int,
        crc_of: Callable[[E], int | None] | None = None,
        cancelled: threading.Event | None = None,
    ) -> None:
        self._entries = entries
        self._open = open_blob
        self._crc_of = crc_of
        self._window = max(1, window)
        self._depth = max(1, depth)
        # Shared with whoever else must stop with the readers (e.g. what produces `entries`).
        self.cancelled = cancelled or threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=self._window, thread_name_prefix="dataset-prefetch")

    def __iter__(self) -> Iterator[BlobFile[E]]:
        ahead: deque[_Fetch[E]] = deque()
        upcoming = iter(self._entries)

        def submit() -> None:
            entry = next(upcoming, None)
            if entry is not None:
                crc = self._crc_of(entry) if self._crc_of is not None else None
                fetch = _Fetch(entry, self._open, self._depth, self.cancelled, crc)
                ahead.append(fetch)
                self._pool.submit(fetch.run)

        for _ in range(self._window):
            submit()
        while ahead:
            fetch = ahead.popleft()
            yield BlobFile(fetch)
            # Only now is a pool thread sure to be free: the finished blob's reader has returned.
            submit()

    def close(self) -> None:
        """Stops every reader (each notices within a poll) without waiting for them."""
        self.cancelled.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
