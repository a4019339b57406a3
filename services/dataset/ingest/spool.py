"""An upload's files received into one temporary file, each file a region of it.

One file for the whole upload keeps an upload's descriptors constant (one, whatever its file count)
and puts one budget on the disk it may take. The regions are read with os.pread, never through the
shared file position, so each region reads on its own and from any thread.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
from typing import IO, TYPE_CHECKING

from mlops.kernel.errors import InvalidArgument

from .limits import IngestLimits
from .records import CHUNK

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

_MAX_READ = 1 << 30


class UploadSpool:
    """Receives an upload's files one after another, refusing the upload as soon as it is too large.

    The transport calls `start_file` for each file's header and `write` for its chunks (sync or async
    alike); `files()` then gives one rewound reader per file for `read_upload`. Close it (or use
    `with`) when the upload is done: that closes the readers too.
    """

    def __init__(self, limits: IngestLimits | None = None) -> None:
        self.limits = limits or IngestLimits()
        self.size = 0
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="mlops-upload-")
        # (file name, first byte) per file, in upload order.
        self._starts: list[tuple[str, int]] = []
        self._readers: list[SpooledFile] = []

    def start_file(self, file_name: str) -> None:
        if len(self._starts) >= self.limits.max_upload_files:
            raise InvalidArgument(
                f"{file_name}: the upload holds more than the limit of {self.limits.max_upload_files} files",
                field="file",
            )
        self._starts.append((file_name, self.size))

    def write(self, chunk: bytes) -> None:
        if not self._starts:
            raise InvalidArgument("a file's bytes come after its header", field="header")
        file_name, start = self._starts[-1]
        if self.size + len(chunk) - start > self.limits.max_upload_bytes:
            raise InvalidArgument(
                f"{file_name}: more than the upload limit of {self.limits.max_upload_bytes} bytes",
                field="file",
            )
        if self.size + len(chunk) > self.limits.max_upload_total_bytes:
            raise InvalidArgument(
                f"{file_name}: the upload holds more than the limit of "
                f"{self.limits.max_upload_total_bytes} bytes in all",
                field="file",
            )
        self._file.write(chunk)
        self.size += len(chunk)

    def files(self) -> list[io.BufferedReader]:
        """A fresh buffered reader per file, in upload order; line reads need the buffer."""
        self._file.flush()
        ends = [start for _, start in self._starts[1:]] + [self.size]
        readers: list[io.BufferedReader] = []
        for (_, start), end in zip(self._starts, ends, strict=True):
            region = SpooledFile(self._file.fileno(), start, end - start)
            self._readers.append(region)
            readers.append(io.BufferedReader(region, buffer_size=CHUNK))
        return readers

    def close(self) -> None:
        # Readers first: a descriptor number closed here may be reused by the next file opened.
        for region in self._readers:
            region.close()
        self._file.close()

    def __enter__(self) -> UploadSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SpooledFile(io.RawIOBase):
    """A read-only, seekable view of `size` bytes at `start` of a descriptor it does not own.

    Reads use os.pread at the view's own position: views of one descriptor never move each other,
    and threads may read different views at once (one view is one reader's, as any file is).
    """

    def __init__(self, fd: int, start: int, size: int) -> None:
        super().__init__()
        self._fd = fd
        self._start = start
        self._size = size
        self._position = 0
        # Held while reading: closing waits for a read in flight, whose descriptor number the
        # spool may otherwise close and the process reuse under it.
        self._reading = threading.Lock()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._check_open()
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self._check_open()
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._size}.get(whence)
        if base is None:
            raise ValueError(f"invalid whence ({whence})")
        if base + offset < 0:
            raise OSError(22, "negative seek position")
        self._position = base + offset
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        with self._reading:
            self._check_open()
            wanted = min(size, max(self._size - self._position, 0))
            if wanted == 0:
                return b""
            data = os.pread(self._fd, wanted, self._start + self._position)
            self._position += len(data)
            return data

    def readall(self) -> bytes:
        # One pread returns at most about 2 GiB on Linux: a larger file is read in parts.
        return b"".join(iter(lambda: self.read(_MAX_READ), b""))

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        with self._reading:
            super().close()

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on a closed upload file")
