"""A version's download plan: what a client needs to build the version's archive from the object
store itself, with URLs that expire, so the archive's bytes never pass through this service.

The caller is authorised for the version before any URL is signed (the kernel's interceptor checks
GetVersionDownloadPlan like DownloadVersion); each URL grants one object, read-only, for minutes.
A plan comes in pages of entries in archive (manifest) order, each page signed when it is asked
for: a client reading a large version asks for the next page as its readers reach it, so no URL
waits long enough to expire and no message grows with the version. Every page also carries a URL
for the version's manifest and its digest, which the client checks the entries against.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from mlops.kernel.errors import InvalidArgument
from mlops.kernel.objectstore import ObjectStore, blob_key

from .domain import ManifestEntry
from .download import member_name
from .manifests import manifest_key
from .prefetch import StoredEntry
from .store import PackedBlob

DEFAULT_EXPIRY_SECONDS = 15 * 60
MAX_EXPIRY_SECONDS = 60 * 60
DEFAULT_PAGE_ENTRIES = 1000
# About 600 bytes an entry (most of it the URL): a page stays near 3 MB.
MAX_PAGE_ENTRIES = 5000


@dataclass(frozen=True)
class PlannedBlob:
    entry: ManifestEntry
    member_name: str
    url: str
    # Set for a blob inside a pack: read [offset, offset + length) of the pack's object.
    packed: PackedBlob | None = None
    # The CRC-32 recorded when the blob was stored; None for blobs stored before CRCs were.
    crc32: int | None = None


@dataclass(frozen=True)
class DownloadPlan:
    """One page of a version's plan."""

    manifest_url: str
    manifest_digest: str
    blobs: tuple[PlannedBlob, ...]
    expires_seconds: int
    expires_at_unix: int
    # The token of the next page; "" on the last.
    next_page_token: str
    total_entries: int


def expiry_seconds(requested: int) -> int:
    """The URLs' lifetime: 0 asks for the default; beyond an hour is refused, not cut short."""
    if requested == 0:
        return DEFAULT_EXPIRY_SECONDS
    if not 0 < requested <= MAX_EXPIRY_SECONDS:
        raise InvalidArgument(
            f"expires_seconds must lie in 1..{MAX_EXPIRY_SECONDS} (0: {DEFAULT_EXPIRY_SECONDS})",
            field="expires_seconds",
        )
    return requested


def page_entries(requested: int) -> int:
    """Entries per page: 0 asks for the default; more than the maximum is refused."""
    if requested == 0:
        return DEFAULT_PAGE_ENTRIES
    if not 0 < requested <= MAX_PAGE_ENTRIES:
        raise InvalidArgument(
            f"page_size must lie in 1..{MAX_PAGE_ENTRIES} (0: {DEFAULT_PAGE_ENTRIES})", field="page.page_size"
        )
    return requested


def page_token_after(last_name: str) -> str:
    """The token of the page after the entry named `last_name` (entries are ordered by name)."""
    return base64.urlsafe_b64encode(last_name.encode()).decode()


def name_before_page(token: str) -> str | None:
    """The name the page of `token` follows; None for the first page."""
    if not token:
        return None
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidArgument("not a page token this service handed out", field="page.page_token") from None


@dataclass(frozen=True)
class PlanPage:
    """What a page is made of, read from the store."""

    manifest_digest: str
    entries: Sequence[StoredEntry]
    next_page_token: str
    total_entries: int


def sign_plan(store: ObjectStore, page: PlanPage, expires_seconds: int) -> DownloadPlan:
    """Signs the manifest's URL, one per blob object and one per pack (shared by the blobs it
    holds). Synchronous: signing is local CPU work, run in a worker thread by the caller."""
    expires = timedelta(seconds=expires_seconds)
    expires_at_unix = int(time.time()) + expires_seconds
    pack_urls: dict[str, str] = {}
    planned = []
    for stored in page.entries:
        location = stored.location
        if location is None:
            url = store.presigned_get_url(blob_key(stored.sha256), expires)
        else:
            url = pack_urls.get(location.pack_key) or store.presigned_get_url(location.pack_key, expires)
            pack_urls[location.pack_key] = url
        planned.append(PlannedBlob(stored.entry, member_name(stored), url, location, stored.crc))
    return DownloadPlan(
        manifest_url=store.presigned_get_url(manifest_key(page.manifest_digest), expires),
        manifest_digest=page.manifest_digest,
        blobs=tuple(planned),
        expires_seconds=expires_seconds,
        expires_at_unix=expires_at_unix,
        next_page_token=page.next_page_token,
        total_entries=page.total_entries,
    )
