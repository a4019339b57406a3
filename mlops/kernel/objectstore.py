"""The object store: content-addressed blobs and keyed objects on any S3 endpoint, via the minio SDK.

Blobs live at `blobs/sha256/<h[:2]>/<h>`: the same content is stored once however many dataset or model
versions refer to it. Data is streamed in both directions (spooled to a temporary file while hashing on
the way up, read in chunks on the way down), so no large file is ever held in memory. The minio SDK is
synchronous: each call runs in a worker thread so the event loop keeps serving.

Every object key goes through `safe_key`: one gate for user-influenced names, because path traversal in
artifact handling is the classic hole of ML platforms.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
import os
import re
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, BinaryIO, TypeVar
from urllib.parse import unquote

import certifi
import urllib3
from minio import Minio
from minio.error import S3Error, ServerError
from minio.helpers import DictType
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from mlops.kernel.errors import DomainError, InvalidArgument, NotFound, Unavailable
from mlops.kernel.settings import S3Settings

logger = logging.getLogger(__name__)

BLOB_PREFIX = "blobs/sha256/"
CHUNK_SIZE = 1024 * 1024
# The SDK buffers each multipart part in memory, one or two per parallel upload: parts at S3's minimum.
PART_SIZE = 5 * 1024 * 1024
# Measured on 2 cores against SeaweedFS, a 64 MiB blob: 1 part at a time peaks near 10 MiB of Python
# memory at ~20 MB/s; 2 at a time ~40 MB/s but peaks at 21-26 MiB. Memory per upload wins by default.
UPLOAD_PARALLELISM = 1
MAX_KEY_BYTES = 1024
DEFAULT_MEDIA_TYPE = "application/octet-stream"
SHA256_METADATA = "sha256"

_SHA256 = re.compile(r"[0-9a-f]{64}")
_WINDOWS_DRIVE = re.compile(r"[A-Za-z]:")
_TRANSIENT_S3_CODES = frozenset({"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout"})

T = TypeVar("T")
Source = BinaryIO | AsyncIterator[bytes] | Path


class BlobCorrupted(DomainError):
    """Stored bytes no longer match their SHA-256: the store lost data."""

    grpc_code_name = "DATA_LOSS"
    http_status = 500


@dataclass(frozen=True)
class BlobInfo:
    sha256: str
    size: int
    key: str
    # True when this call stored the bytes; False when identical content was already there.
    created: bool = False
    last_modified: datetime | None = None


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    # Recorded at upload by put_object; None for objects written by other tools.
    sha256: str | None = None
    media_type: str | None = None
    last_modified: datetime | None = None


def safe_key(*parts: str) -> str:
    """Join key parts with "/", refusing anything that could escape a prefix or confuse a filesystem.

    Each part may itself hold "/"-separated segments (an artifact's relative path). Refused: empty
    segments (so no absolute paths or "a//b"), "." and "..", backslashes, NUL and other control
    characters, Windows drive letters, and percent-encoding that decodes to any of those.
    """
    if not parts:
        raise InvalidArgument("an object key needs at least one part", field="key")
    segments: list[str] = []
    for part in parts:
        if not isinstance(part, str):
            raise InvalidArgument(f"key part {part!r} is not a string", field="key")
        for segment in part.split("/"):
            _check_segment(segment, part)
            segments.append(segment)
    if _WINDOWS_DRIVE.match(segments[0]):
        raise InvalidArgument(f"key {parts[0]!r} starts like a drive letter", field="key")
    key = "/".join(segments)
    if len(key.encode()) > MAX_KEY_BYTES:
        raise InvalidArgument(f"key is longer than {MAX_KEY_BYTES} bytes", field="key")
    return key


def _check_segment(segment: str, part: str) -> None:
    decoded = _fully_unquoted(segment)
    for candidate in {segment, decoded}:
        if candidate in ("", ".", ".."):
            raise InvalidArgument(f"key part {part!r} has an empty, '.' or '..' segment", field="key")
        if "\\" in candidate or any(ord(char) < 0x20 or ord(char) == 0x7F for char in candidate):
            raise InvalidArgument(f"key part {part!r} has a backslash or control character", field="key")
    if "/" in decoded:
        raise InvalidArgument(f"key part {part!r} hides a '/' in percent-encoding", field="key")


def _fully_unquoted(text: str) -> str:
    # Double (and triple) encoding is the usual trick to slip "%2e%2e%2f" past a single decode.
    for _ in range(4):
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    return text


def blob_key(sha256: str) -> str:
    if not _SHA256.fullmatch(sha256):
        raise InvalidArgument(f"{sha256!r} is not a lowercase hex SHA-256", field="sha256")
    return safe_key(BLOB_PREFIX.rstrip("/"), sha256[:2], sha256)


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, urllib3.exceptions.HTTPError | ConnectionError | ServerError):
        return True
    return isinstance(error, S3Error) and error.code in _TRANSIENT_S3_CODES


_retrying = retry(
    retry=retry_if_exception(_is_transient),
    stop=stop_after_attempt(4),
    wait=wait_exponential(multiplier=0.2, max=2.0),
    reraise=True,
)


@dataclass
class _Spooled:
    path: Path
    sha256: str
    size: int
    temporary: bool

    def discard(self) -> None:
        if self.temporary:
            self.path.unlink(missing_ok=True)


class ObjectStream:
    """Chunks of one object, read lazily; `async for` over it, and close it (or use `async with`)."""

    def __init__(
        self, response: Any, size: int | None, expected_sha256: str | None, key: str, chunk_size: int
    ) -> None:
        self.size = size
        self.key = key
        self._response = response
        self._chunks: Iterator[bytes] = response.stream(chunk_size)
        self._hasher = hashlib.sha256() if expected_sha256 else None
        self._expected = expected_sha256
        self._received = 0
        self._closed = False

    def __aiter__(self) -> ObjectStream:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
        try:
            chunk = await asyncio.to_thread(next, self._chunks, b"")
        except BaseException as error:
            await self.aclose()
            if isinstance(error, Exception) and _is_transient(error):
                raise Unavailable(f"{self.key}: the download broke off: {error}") from error
            raise
        if not chunk:
            await self.aclose()
            self._check_complete()
            raise StopAsyncIteration
        self._received += len(chunk)
        if self._hasher is not None:
            self._hasher.update(chunk)
        return chunk

    def _check_complete(self) -> None:
        if self.size is not None and self._received != self.size:
            raise BlobCorrupted(f"{self.key}: read {self._received} bytes of {self.size}", field="key")
        if self._hasher is not None and self._hasher.hexdigest() != self._expected:
            raise BlobCorrupted(
                f"{self.key}: content hashes to {self._hasher.hexdigest()}, expected {self._expected}",
                field="key",
            )

    async def read_all(self) -> bytes:
        """The whole object: for small ones only."""
        async with self:
            return b"".join([chunk async for chunk in self])

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await asyncio.to_thread(self._release)

    def _release(self) -> None:
        self._response.close()
        self._response.release_conn()

    async def __aenter__(self) -> ObjectStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class ObjectStore:
    """One bucket of an S3 endpoint: blobs by SHA-256 and objects by validated key."""

    def __init__(
        self,
        settings: S3Settings,
        *,
        spool_dir: Path | None = None,
        upload_parallelism: int = UPLOAD_PARALLELISM,
    ) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        # Where uploads are spooled while hashed; the system's temporary directory by default.
        self.spool_dir = spool_dir
        self.upload_parallelism = upload_parallelism
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5, read=120),
            maxsize=16,
            cert_reqs="CERT_REQUIRED",
            # The SDK's own default: a private CA can be named by SSL_CERT_FILE.
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            # Transient failures are retried by us around whole operations, which can rewind the source.
            retries=urllib3.Retry(total=2, connect=2, read=0, backoff_factor=0.2),
        )
        self.client = Minio(
            settings.endpoint,
            access_key=settings.access_key,
            secret_key=settings.secret_key.get_secret_value(),
            secure=settings.secure,
            region=settings.region,
            http_client=http,
        )
        self._public_client: Minio | None = None

    def presigned_get_url(self, key: str, expires: timedelta) -> str:
        """A GET URL for one object that anyone holding it may use until it expires, signed for the
        endpoint clients reach (`public_endpoint`). Signing is local: no request is made."""
        if self._public_client is None:
            settings = self.settings
            self._public_client = Minio(
                settings.public_endpoint or settings.endpoint,
                access_key=settings.access_key,
                secret_key=settings.secret_key.get_secret_value(),
                secure=settings.secure if settings.public_secure is None else settings.public_secure,
                # A known region keeps the SDK from asking the server for it.
                region=settings.region,
            )
        return str(self._public_client.presigned_get_object(self.bucket, safe_key(key), expires=expires))

    async def _call(self, function: Callable[..., T], /, **kwargs: Any) -> T:
        """Run an SDK call in a thread, retrying transient failures; past the retries, Unavailable."""
        try:
            return await asyncio.to_thread(_retrying(function), **kwargs)
        except Exception as error:
            if _is_transient(error):
                raise Unavailable(f"object store {self.settings.endpoint} unreachable: {error}") from error
            raise

    # --- bucket -----------------------------------------------------------------------------------

    async def ensure_bucket(self) -> None:
        if await self._call(self.client.bucket_exists, bucket_name=self.bucket):
            return
        try:
            await self._call(self.client.make_bucket, bucket_name=self.bucket)
            logger.info("created bucket", extra={"fields": {"bucket": self.bucket}})
        except S3Error as error:
            # Another process created it between our check and our request.
            if error.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise

    # --- content-addressed blobs ------------------------------------------------------------------

    async def put_blob(self, source: Source, *, media_type: str = DEFAULT_MEDIA_TYPE) -> BlobInfo:
        """Store content once under its SHA-256; `created` says whether it was new to the store.

        A Path is hashed in place and uploaded from there: the caller must not change it meanwhile.
        Other sources are spooled to a temporary file while hashed, so memory use is constant.
        """
        spooled = await self._spool(source)
        try:
            key = blob_key(spooled.sha256)
            existing = await self.stat_blob(spooled.sha256)
            if existing is not None and existing.size == spooled.size:
                return BlobInfo(spooled.sha256, spooled.size, key, created=False)
            if existing is not None:
                logger.warning(
                    "blob size differs from its content; storing it again",
                    extra={"fields": {"key": key, "stored": existing.size, "actual": spooled.size}},
                )
            await self._upload(spooled, key, media_type, {SHA256_METADATA: spooled.sha256})
            return BlobInfo(spooled.sha256, spooled.size, key, created=True)
        finally:
            await asyncio.to_thread(spooled.discard)

    async def put_bytes(self, data: bytes, *, media_type: str = DEFAULT_MEDIA_TYPE) -> BlobInfo:
        """Small content: hashed in memory, uploaded without a temporary file."""
        sha256 = hashlib.sha256(data).hexdigest()
        key = blob_key(sha256)
        existing = await self.stat_blob(sha256)
        if existing is not None and existing.size == len(data):
            return BlobInfo(sha256, len(data), key, created=False)
        await self._put_small(key, data, media_type, {SHA256_METADATA: sha256})
        return BlobInfo(sha256, len(data), key, created=True)

    async def open_blob(
        self, sha256: str, *, verify: bool = False, chunk_size: int = CHUNK_SIZE
    ) -> ObjectStream:
        """A stream of the blob's chunks; with verify, the last read raises BlobCorrupted on mismatch."""
        return await self._open(blob_key(sha256), sha256 if verify else None, chunk_size)

    async def get_bytes(self, sha256: str, *, verify: bool = True) -> bytes:
        return await (await self.open_blob(sha256, verify=verify)).read_all()

    async def stat_blob(self, sha256: str) -> BlobInfo | None:
        info = await self._stat(blob_key(sha256))
        if info is None:
            return None
        return BlobInfo(sha256, info.size, info.key, last_modified=info.last_modified)

    async def blob_exists(self, sha256: str) -> bool:
        return await self.stat_blob(sha256) is not None

    async def delete_blob(self, sha256: str) -> None:
        """Remove a blob; the garbage collector's job, once no version refers to it."""
        await self._call(self.client.remove_object, bucket_name=self.bucket, object_name=blob_key(sha256))

    async def iter_blobs(self) -> AsyncIterator[BlobInfo]:
        """Every blob in the bucket, for garbage collection."""
        async for info in self.iter_objects(BLOB_PREFIX):
            sha256 = info.key.rsplit("/", 1)[-1]
            if _SHA256.fullmatch(sha256) and info.key == blob_key(sha256):
                yield BlobInfo(sha256, info.size, info.key, last_modified=info.last_modified)

    # --- keyed objects ------------------------------------------------------------------------------

    async def put_object(
        self, key: str, source: Source | bytes, *, media_type: str = DEFAULT_MEDIA_TYPE
    ) -> ObjectInfo:
        """Store under a caller-chosen key (validated by safe_key), overwriting; its SHA-256 is recorded."""
        key = safe_key(key)
        if isinstance(source, bytes):
            sha256 = hashlib.sha256(source).hexdigest()
            await self._put_small(key, source, media_type, {SHA256_METADATA: sha256})
            return ObjectInfo(key, len(source), sha256, media_type)
        spooled = await self._spool(source)
        try:
            await self._upload(spooled, key, media_type, {SHA256_METADATA: spooled.sha256})
            return ObjectInfo(key, spooled.size, spooled.sha256, media_type)
        finally:
            await asyncio.to_thread(spooled.discard)

    async def open_object(
        self, key: str, *, verify: bool = False, chunk_size: int = CHUNK_SIZE
    ) -> ObjectStream:
        """A stream of the object's chunks; verify checks the SHA-256 recorded by put_object, if any."""
        key = safe_key(key)
        expected = None
        if verify:
            info = await self._stat(key)
            if info is None:
                raise NotFound(f"no object {key!r}", field="key")
            expected = info.sha256
        return await self._open(key, expected, chunk_size)

    async def stat_object(self, key: str) -> ObjectInfo | None:
        return await self._stat(safe_key(key))

    async def delete_object(self, key: str) -> None:
        await self._call(self.client.remove_object, bucket_name=self.bucket, object_name=safe_key(key))

    async def iter_objects(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        """Objects under a prefix ("" for all; a trailing "/" is kept), listed page by page in a thread."""
        if prefix:
            trailing = prefix.endswith("/")
            prefix = safe_key(prefix.rstrip("/")) + ("/" if trailing else "")
        listing = iter(
            await self._call(self.client.list_objects, bucket_name=self.bucket, prefix=prefix, recursive=True)
        )
        while True:
            item = await asyncio.to_thread(next, listing, None)
            if item is None:
                return
            if item.is_dir or item.object_name is None:
                continue
            yield ObjectInfo(item.object_name, item.size or 0, last_modified=item.last_modified)

    # --- plumbing -----------------------------------------------------------------------------------

    async def _spool(self, source: Source) -> _Spooled:
        if isinstance(source, Path):
            sha256, size = await asyncio.to_thread(_hash_file, source)
            return _Spooled(source, sha256, size, temporary=False)
        if hasattr(source, "read"):
            return await asyncio.to_thread(_spool_reader, source, self.spool_dir)  # type: ignore[arg-type]
        return await _spool_async(source, self.spool_dir)

    async def _upload(self, spooled: _Spooled, key: str, media_type: str, metadata: DictType) -> None:
        def upload() -> None:
            with spooled.path.open("rb") as data:
                self.client.put_object(
                    bucket_name=self.bucket,
                    object_name=key,
                    data=data,
                    length=spooled.size,
                    content_type=media_type,
                    metadata=metadata,
                    part_size=PART_SIZE,
                    num_parallel_uploads=self.upload_parallelism,
                )

        # Each attempt reopens the file, so a retry starts from its first byte.
        await self._call(upload)

    async def _put_small(self, key: str, data: bytes, media_type: str, metadata: DictType) -> None:
        def upload() -> None:
            self.client.put_object(
                bucket_name=self.bucket,
                object_name=key,
                data=io.BytesIO(data),
                length=len(data),
                content_type=media_type,
                metadata=metadata,
                part_size=PART_SIZE,
            )

        await self._call(upload)

    async def _stat(self, key: str) -> ObjectInfo | None:
        try:
            stat = await self._call(self.client.stat_object, bucket_name=self.bucket, object_name=key)
        except S3Error as error:
            if error.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound", "NotFound"):
                return None
            raise
        metadata = {name.lower(): value for name, value in (stat.metadata or {}).items()}
        return ObjectInfo(
            key,
            stat.size or 0,
            sha256=metadata.get(f"x-amz-meta-{SHA256_METADATA}"),
            media_type=stat.content_type,
            last_modified=stat.last_modified,
        )

    async def _open(self, key: str, expected_sha256: str | None, chunk_size: int) -> ObjectStream:
        try:
            response = await self._call(self.client.get_object, bucket_name=self.bucket, object_name=key)
        except S3Error as error:
            if error.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound", "NotFound"):
                raise NotFound(f"no object {key!r}", field="key") from error
            raise
        length = response.headers.get("Content-Length")
        size = int(length) if length is not None else None
        return ObjectStream(response, size, expected_sha256, key, chunk_size)


def _hash_file(path: Path) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    with path.open("rb") as source:
        while chunk := source.read(CHUNK_SIZE):
            hasher.update(chunk)
            size += len(chunk)
    return hasher.hexdigest(), size


def _spool_reader(source: IO[bytes], spool_dir: Path | None) -> _Spooled:
    hasher = hashlib.sha256()
    size = 0
    fd, name = tempfile.mkstemp(prefix="mlops-blob-", dir=spool_dir)
    try:
        with os.fdopen(fd, "wb") as spool:
            while chunk := source.read(CHUNK_SIZE):
                hasher.update(chunk)
                spool.write(chunk)
                size += len(chunk)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return _Spooled(Path(name), hasher.hexdigest(), size, temporary=True)


async def _spool_async(source: AsyncIterator[bytes], spool_dir: Path | None) -> _Spooled:
    hasher = hashlib.sha256()
    size = 0
    fd, name = tempfile.mkstemp(prefix="mlops-blob-", dir=spool_dir)
    spool = os.fdopen(fd, "wb")
    pending: list[bytes] = []
    pending_size = 0
    try:
        async for chunk in source:
            hasher.update(chunk)
            size += len(chunk)
            pending.append(chunk)
            pending_size += len(chunk)
            # Write in batches: a thread hop per tiny chunk would cost more than the write.
            if pending_size >= CHUNK_SIZE:
                await asyncio.to_thread(spool.writelines, pending)
                pending, pending_size = [], 0
        await asyncio.to_thread(spool.writelines, pending)
        await asyncio.to_thread(spool.close)
    except BaseException:
        spool.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise
    return _Spooled(Path(name), hasher.hexdigest(), size, temporary=True)
