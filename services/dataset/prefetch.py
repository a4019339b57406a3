"""Blobs of a manifest read ahead in parallel, in order, with bounded memory.

One S3 GET at a time leaves the archive writer waiting on each round trip and each blob's transfer;
a small window of readers keeps the next blobs arriving while the current one is written. Every
reader owns a queue of at most `depth` chunks, so at most `window * depth` chunks are buffered
whatever the blobs' sizes. Readers hash what they read (hashlib releases the GIL, so this runs beside
the writer on another core) and refuse a blob that does not match its manifest entry before its last
bytes are handed over.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import queue
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mlops.kernel.objectstore import BlobCorrupted, ObjectStore, blob_key, safe_key

from .domain import ManifestEntry
from .store import PackedBlob

READ_SIZE = 1024 * 1024
_END = object()
_POLL_SECONDS = 0.2


class Cancelled(Exception):
    """The download was abandoned: readers and writer stop."""


class _Fetch:
    """One blob being read into its own bounded queue by a pool thread."""

    def __init__(
        self,
        store: ObjectStore,
        entry: ManifestEntry,
        depth: int,
        cancelled: threading.Event,
        packed: PackedBlob | None = None,
    ) -> None:
        self.entry = entry
        self._packed = packed
        self._store = store
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
        client, bucket = self._store.client, self._store.bucket
        if self._packed is None:
            response = client.get_object(bucket_name=bucket, object_name=blob_key(entry.sha256))
        else:
            response = client.get_object(
                bucket_name=bucket,
                object_name=safe_key(self._packed.pack_key),
                offset=self._packed.offset,
                length=self._packed.length,
            )
        try:
            hasher = hashlib.sha256()
            total = 0
            while data := response.read(READ_SIZE):
                total += len(data)
                hasher.update(data)
                if total >= entry.size_bytes:
                    self._check(total, hasher)
                self._put(data)
            self._check(total, hasher)
        finally:
            with contextlib.suppress(Exception):
                response.close()
                response.release_conn()
        self._put(_END)

    def _check(self, total: int, hasher: Any) -> None:
        if total != self.entry.size_bytes or hasher.hexdigest() != self.entry.sha256:
            raise BlobCorrupted(f"blob of sample {self.entry.name!r} does not match its manifest entry")

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


class BlobFile(io.RawIOBase):
    """A prefetched blob as a readable file: read(n) returns n bytes until the end (tarfile insists)."""

    def __init__(self, fetch: _Fetch) -> None:
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


class Prefetcher:
    """The manifest's blobs as BlobFiles, in order, `window` of them read ahead at once."""

    def __init__(
        self,
        store: ObjectStore,
        entries: Sequence[ManifestEntry],
        *,
        window: int,
        depth: int,
        packed: Mapping[str, PackedBlob] | None = None,
    ) -> None:
        self._store = store
        self._packed = packed or {}
        self._entries = entries
        self._window = max(1, window)
        self._depth = max(1, depth)
        self.cancelled = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=self._window, thread_name_prefix="dataset-prefetch")

    def __iter__(self) -> Iterator[BlobFile]:
        ahead: deque[_Fetch] = deque()
        upcoming = iter(self._entries)

        def submit() -> None:
            entry = next(upcoming, None)
            if entry is not None:
                fetch = _Fetch(
                    self._store, entry, self._depth, self.cancelled, self._packed.get(entry.sha256)
                )
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
