"""What a reader yields: a validated sample with its content, hashed while it was read."""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from mlops.datasets.checksum import crc32
from mlops.kernel.errors import InvalidArgument

from ..domain import Annotation, Purpose, Sample
from .limits import IngestLimits

CHUNK = 64 * 1024


@dataclass
class IngestedSample:
    """A sample ready for the store. Content is bytes when small, a temporary file when large.

    `source` says where it came from ("sensors.csv row 12") for messages. Close large ones when done.
    """

    name: str
    sha256: str
    size_bytes: int
    media_type: str
    source: str
    # The content's CRC-32, what downloads check it against (mlops.datasets.checksum).
    crc32: int
    data: bytes | None = None
    spool: IO[bytes] | None = None
    annotation: Annotation = None
    purpose: Purpose | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    observed_at: datetime | None = None

    def open(self) -> IO[bytes]:
        """A fresh reader over the content, from its first byte."""
        if self.spool is not None:
            self.spool.seek(0)
            return self.spool
        return io.BytesIO(self.data or b"")

    def read_bytes(self) -> bytes:
        return self.open().read()

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()
            self.spool = None

    def to_sample(self, default_purpose: Purpose = Purpose.TRAINING) -> Sample:
        return Sample(
            name=self.name,
            content_sha256=self.sha256,
            size_bytes=self.size_bytes,
            media_type=self.media_type,
            purpose=self.purpose or default_purpose,
            annotation=self.annotation,
            metadata=dict(self.metadata),
            observed_at=self.observed_at,
        )


@dataclass(frozen=True)
class Content:
    sha256: str
    size_bytes: int
    data: bytes | None
    spool: IO[bytes] | None
    crc32: int


def content_of(data: bytes) -> Content:
    return Content(hashlib.sha256(data).hexdigest(), len(data), data, None, crc32(data))


class ArchiveBudget:
    """Counts what an archive expands to as it is read, so a lying header cannot hide a bomb."""

    def __init__(self, limits: IngestLimits, file_name: str) -> None:
        self.limits = limits
        self.file_name = file_name
        self.members = 0
        self.expanded_bytes = 0

    def count_member(self, member: str) -> None:
        self.members += 1
        if self.members > self.limits.max_archive_members:
            raise InvalidArgument(
                f"{self.file_name}: more than {self.limits.max_archive_members} members "
                f"(stopped at {member!r})",
                field="file",
            )

    def charge(self, size: int, member: str) -> None:
        self.expanded_bytes += size
        if self.expanded_bytes > self.limits.max_uncompressed_bytes:
            raise InvalidArgument(
                f"{self.file_name}: expands past the limit of {self.limits.max_uncompressed_bytes} bytes "
                f"(at {member!r})",
                field="file",
            )


def capture(
    chunks: Iterable[bytes], *, source: str, limits: IngestLimits, budget: ArchiveBudget | None = None
) -> Content:
    """Hashes and keeps a stream's bytes, in memory up to the spool threshold, then on disk."""
    digest = hashlib.sha256()
    crc = 0
    size = 0
    buffer = bytearray()
    spool: IO[bytes] | None = None
    try:
        for chunk in chunks:
            size += len(chunk)
            if size > limits.max_sample_bytes:
                raise InvalidArgument(
                    f"{source}: larger than the limit of {limits.max_sample_bytes} bytes per sample",
                    field="file",
                )
            if budget is not None:
                budget.charge(len(chunk), source)
            digest.update(chunk)
            crc = crc32(chunk, crc)
            if spool is not None:
                spool.write(chunk)
                continue
            buffer += chunk
            if len(buffer) > limits.spool_threshold_bytes:
                spool = tempfile.TemporaryFile(prefix="mlops-sample-")
                spool.write(buffer)
                buffer = bytearray()
    except BaseException:
        if spool is not None:
            spool.close()
        raise
    if spool is not None:
        spool.flush()
        return Content(digest.hexdigest(), size, None, spool, crc)
    return Content(digest.hexdigest(), size, bytes(buffer), None, crc)


def chunks_of(stream: IO[bytes], size: int = CHUNK) -> Iterable[bytes]:
    while chunk := stream.read(size):
        yield chunk


def head_of(content: Content, size: int) -> bytes:
    """The first bytes of a content, for sniffing its type."""
    if content.data is not None:
        return content.data[:size]
    assert content.spool is not None
    content.spool.seek(0)
    return content.spool.read(size)


def sample_from(
    content: Content,
    *,
    name: str,
    media_type: str,
    source: str,
    annotation: Annotation = None,
    purpose: Purpose | None = None,
    metadata: Mapping[str, Any] | None = None,
    observed_at: datetime | None = None,
) -> IngestedSample:
    return IngestedSample(
        name=name,
        sha256=content.sha256,
        size_bytes=content.size_bytes,
        media_type=media_type,
        source=source,
        crc32=content.crc32,
        data=content.data,
        spool=content.spool,
        annotation=annotation,
        purpose=purpose,
        metadata=dict(metadata or {}),
        observed_at=observed_at,
    )
