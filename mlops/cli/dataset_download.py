"""`mlops datasets download` (direct, its default): a version's archive built here from the object store.

The dataset service authorises the caller and hands out a plan (GetVersionDownloadPlan) in pages,
asked for as the readers reach them: a presigned GET URL valid for minutes per blob (ranged for
blobs inside packs) and one for the version's manifest, which is checked against the version's
digest and which every planned entry must match, in order. The blobs are read a few at a time
straight from S3 (so the archive's bytes never pass through the service), each checked against the
CRC-32 recorded when it was stored (or, with `--verify sha256` and for blobs stored before CRCs
were recorded, its SHA-256), and written in order by the same archive writer the service uses: the
same members, names and compression. The archive is written beside the target as `<name>.part` and
renamed only when complete, so a failed download leaves no complete-looking file.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import certifi
import urllib3
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from mlops.api.common.v1 import common_pb2
from mlops.api.dataset.v1 import dataset_pb2 as pb
from mlops.cli.client import console
from mlops.datasets.archive import (
    PREFETCH_DEPTH,
    ArchiveFormat,
    ArchivePolicy,
    ManifestFile,
    Members,
    write_archive,
)
from mlops.datasets.checksum import Verification
from mlops.datasets.prefetch import READ_SIZE, BlobResponse, Opener, Prefetcher
from mlops.kernel.errors import FailedPrecondition, Unavailable
from mlops.kernel.objectstore import BlobCorrupted

DEFAULT_PARALLEL_READS = 4
_WRITE_BUFFER = 1024 * 1024
_ERROR_BODY_BYTES = 4096
_SWITCH_INTERVAL_SECONDS = 0.0005
# At most this much read ahead of the archive writer, whatever the blobs' sizes.
READ_AHEAD_BYTES = 64 * 1024 * 1024


class DownloadRefused(FailedPrecondition):
    """The object store refused a planned URL (expired, revoked credentials, object gone)."""


class S3Unreachable(Unavailable):
    """The object store the plan's URLs point at cannot be reached from this machine."""


class PlanMismatch(BlobCorrupted):
    """The plan's entries are not the manifest's samples: the archive would not be the version."""


@dataclass(frozen=True)
class RemoteBlob:
    """One planned member: what it must hash to and where to GET it."""

    name: str
    sha256: str
    size_bytes: int
    media_type: str
    member_name: str
    url: str
    ranged: bool = False
    offset: int = 0
    length: int = 0
    # What to check the blob against instead of its SHA-256; None: the SHA-256.
    crc32: int | None = None

    @classmethod
    def from_proto(cls, entry: pb.DownloadPlanEntry, verification: Verification) -> RemoteBlob:
        by_crc = verification is Verification.CRC32 and entry.HasField("crc32")
        return cls(
            name=entry.sample_name,
            sha256=entry.sha256,
            size_bytes=entry.size_bytes,
            media_type=entry.media_type,
            member_name=entry.member_name,
            url=entry.url,
            ranged=entry.ranged,
            offset=entry.offset,
            length=entry.length,
            crc32=entry.crc32 if by_crc else None,
        )


def http_pool(parallel_reads: int) -> urllib3.PoolManager:
    return urllib3.PoolManager(
        maxsize=max(1, parallel_reads),
        timeout=urllib3.Timeout(connect=10, read=120),
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        # A broken connection is retried; a response (403, 404) is reported, not retried.
        retries=urllib3.Retry(total=2, connect=2, read=0, status=0, backoff_factor=0.2),
    )


def url_opener(http: urllib3.PoolManager) -> Opener[RemoteBlob]:
    """GETs a planned blob (its byte range of a pack when ranged); a refusal raises DownloadRefused."""

    def open_blob(blob: RemoteBlob) -> BlobResponse:
        headers = {}
        if blob.ranged:
            if blob.length == 0:
                return _Empty()  # an empty range cannot be asked for
            headers["Range"] = f"bytes={blob.offset}-{blob.offset + blob.length - 1}"
        try:
            response = http.request(
                "GET", blob.url, headers=headers, preload_content=False, decode_content=False, redirect=False
            )
        except urllib3.exceptions.MaxRetryError as error:
            host = urllib3.util.parse_url(blob.url).netloc
            raise S3Unreachable(f"S3 at {host} is not reachable from here ({error.reason})") from None
        # A server that ignores Range answers 200 with the whole pack: refused, not misread.
        if response.status != (206 if blob.ranged else 200):
            raise _refusal(f"sample {blob.name!r}", response)
        return response  # type: ignore[no-any-return]

    return open_blob


class _Empty:
    def read(self, amt: int | None = None) -> bytes:
        return b""

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


def _refusal(what: str, response: Any) -> DownloadRefused:
    try:
        body = response.read(_ERROR_BODY_BYTES).decode(errors="replace")
    finally:
        response.release_conn()
    code = re.search(r"<Code>([^<]*)</Code>", body)
    message = re.search(r"<Message>([^<]*)</Message>", body)
    said = " ".join(part.group(1) for part in (code, message) if part) or body[:200]
    hint = " (the plan's URLs have expired: download again)" if "expired" in said.lower() else ""
    return DownloadRefused(
        f"the object store refused the URL for {what}: HTTP {response.status} {said}{hint}"
    )


class _CountingFile:
    """The archive file as zipfile and the gzip writer see it: write-only, unseekable (so both
    write exactly as the service does), counting bytes for the progress bar."""

    def __init__(self, file: Any, on_write: Callable[[int], None] | None) -> None:
        self._file = file
        self._on_write = on_write
        self.written = 0

    def write(self, data: Any, /) -> int:
        size: int = self._file.write(data)
        self.written += size
        if self._on_write is not None:
            self._on_write(size)
        return size

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        """The file itself is closed by its owner, after the rename decision."""


def _named(blobs: Prefetcher[RemoteBlob]) -> Members:
    for blob in blobs:
        yield blob.entry.member_name, blob


PlanPages = Iterable[pb.VersionDownloadPlan]


def write_plan_archive(
    pages: PlanPages,
    archive_format: ArchiveFormat,
    output: Path,
    *,
    parallel_reads: int = 0,
    on_write: Callable[[int], None] | None = None,
    verification: Verification = Verification.CRC32,
) -> int:
    """Builds the planned version's archive at `output`; returns its size in bytes."""
    partial = output.with_name(output.name + ".part")
    try:
        with partial.open("wb", buffering=_WRITE_BUFFER) as file:
            written = write_plan_archive_to(
                pages,
                archive_format,
                file,
                parallel_reads=parallel_reads,
                on_write=on_write,
                verification=verification,
            )
        partial.replace(output)
        return written
    finally:
        partial.unlink(missing_ok=True)


def write_plan_archive_to(
    pages: PlanPages,
    archive_format: ArchiveFormat,
    file: Any,
    *,
    parallel_reads: int = 0,
    on_write: Callable[[int], None] | None = None,
    verification: Verification = Verification.CRC32,
) -> int:
    """The planned version's archive written to an open file; returns its size in bytes. `pages`
    yields the plan's pages in order, lazily: the next is asked for when the readers reach it."""
    pages = iter(pages)
    first = next(pages)
    window = parallel_reads or first.parallel_reads or DEFAULT_PARALLEL_READS
    policy = ArchivePolicy(
        level=first.compression_level, deflate_max_ratio=first.deflate_max_ratio, window=window
    )
    http = http_pool(window)
    # Deep enough that every reader ahead keeps streaming while the writer is on an earlier blob (a
    # shallow queue stalls them after a few MiB, and large blobs then arrive one stream at a time).
    depth = max(PREFETCH_DEPTH, READ_AHEAD_BYTES // (window * READ_SIZE))
    prefetcher: Prefetcher[RemoteBlob] | None = None
    # Readers wake from socket reads and must take the GIL back from the writer: at the default 5 ms
    # switch interval each wake-up can wait that long, which starves the transfers.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(_SWITCH_INTERVAL_SECONDS)
    try:
        manifest = fetch_manifest(http, first)
        blobs = _checked_blobs(_chain(first, pages), manifest, verification)
        prefetcher = Prefetcher(
            blobs, url_opener(http), window=window, depth=depth, crc_of=lambda blob: blob.crc32
        )
        sink = _CountingFile(file, on_write)
        write_archive(archive_format, sink, _named(prefetcher), ManifestFile.of(manifest), policy)
        return sink.written
    finally:
        sys.setswitchinterval(switch_interval)
        if prefetcher is not None:
            prefetcher.close()
        http.clear()


def fetch_manifest(http: urllib3.PoolManager, plan: pb.VersionDownloadPlan) -> bytes:
    """The version's manifest.json, checked against the version's digest. The first request of a
    download: S3Unreachable here means nothing was read yet."""
    try:
        response = http.request("GET", plan.manifest_url, preload_content=False, redirect=False)
    except urllib3.exceptions.MaxRetryError as error:
        host = urllib3.util.parse_url(plan.manifest_url).netloc
        raise S3Unreachable(f"S3 at {host} is not reachable from here ({error.reason})") from None
    if response.status != 200:
        raise _refusal("the manifest", response)
    try:
        stored = response.read()
    finally:
        response.release_conn()
    try:
        document = gzip.decompress(stored)
    except (OSError, EOFError) as error:
        raise BlobCorrupted(f"the version's stored manifest is not gzip data: {error}") from None
    if hashlib.sha256(document).hexdigest() != plan.manifest_digest:
        raise BlobCorrupted("the version's stored manifest does not match its digest")
    return document


def _chain(first: pb.VersionDownloadPlan, rest: Iterator[pb.VersionDownloadPlan]) -> PlanPages:
    yield first
    yield from rest


def _checked_blobs(pages: PlanPages, manifest: bytes, verification: Verification) -> Iterator[RemoteBlob]:
    """The planned entries as blobs to read, each checked to be the manifest's next sample: the
    archive is then the version the digest names, whatever the plan says."""
    samples = json.loads(manifest)["samples"]
    index = 0
    for page in pages:
        for entry in page.entries:
            expected = samples[index] if index < len(samples) else None
            planned = (entry.sample_name, entry.sha256, entry.size_bytes)
            if expected is None or (expected["name"], expected["sha256"], expected["size"]) != planned:
                raise PlanMismatch(
                    f"the plan's entry {entry.sample_name!r} is not the manifest's sample {index + 1}"
                )
            index += 1
            yield RemoteBlob.from_proto(entry, verification)
    if index != len(samples):
        raise PlanMismatch(f"the plan ended after {index} of the manifest's {len(samples)} samples")


def fetch_plan(
    session: Any, dataset_id: str, number: int, expires_seconds: int = 0, page_token: str = ""
) -> pb.VersionDownloadPlan:
    """One page of the plan: the service authorises the caller and signs its URLs (`session`: the
    CLI's ServiceSession)."""
    request = pb.GetVersionDownloadPlanRequest(
        dataset_id=dataset_id,
        number=number,
        expires_seconds=expires_seconds,
        page=common_pb2.PageRequest(page_token=page_token),
    )
    plan: pb.VersionDownloadPlan = session.call("GetVersionDownloadPlan", request, timeout=120)
    return plan


def plan_pages(fetch_page: Callable[[str], pb.VersionDownloadPlan]) -> PlanPages:
    """Every page of a plan, each fetched (by its page token) only when asked for."""
    token = ""
    while True:
        page = fetch_page(token)
        yield page
        token = page.page.next_page_token
        if not token:
            return


def download_direct(
    session: Any,
    dataset_id: str,
    number: int,
    archive_format: str,
    output: Path,
    total: int,
    verification: Verification = Verification.CRC32,
) -> int:
    """The CLI's direct download, with a progress bar; returns the archive's size. S3Unreachable
    when the plan's object store cannot be reached (before anything is written)."""
    pages = plan_pages(lambda token: fetch_plan(session, dataset_id, number, page_token=token))
    columns = (*Progress.get_default_columns()[:1], BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        # The archive's size is unknown ahead; the samples' size is a close estimate.
        task = progress.add_task("downloading from S3", total=total or None)
        return write_plan_archive(
            pages,
            ArchiveFormat(archive_format),
            output,
            on_write=lambda size: progress.advance(task, size),
            verification=verification,
        )
