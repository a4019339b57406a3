"""Where a version's manifest lives in the object store, and how it is read back and verified.

The manifest is kept gzip-compressed under a key named by its digest (the SHA-256 of the canonical,
uncompressed JSON): compressed, it costs a 1%-change publish about a third of the bytes the plain
document would, and readers still verify it against the digest. The version's rows in the database
hold the same entries for listing, filtering and diffs; this object is what outside readers (training
workers) fetch with the digest alone.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib

from mlops.kernel.objectstore import BlobCorrupted, ObjectStore, safe_key

from .domain import Manifest

MANIFEST_PREFIX = "manifests/sha256/"
MEDIA_TYPE = "application/gzip"


def manifest_key(digest: str) -> str:
    return safe_key("manifests", "sha256", digest[:2], f"{digest}.json.gz")


def digest_of_key(key: str) -> str:
    return key.rsplit("/", 1)[-1].removesuffix(".json.gz")


async def save_manifest(store: ObjectStore, manifest_bytes: bytes, digest: str) -> int:
    """Stores the canonical bytes compressed; returns the stored size."""
    packed = await asyncio.to_thread(gzip.compress, manifest_bytes, 6, mtime=0)
    await store.put_object(manifest_key(digest), packed, media_type=MEDIA_TYPE)
    return len(packed)


async def load_manifest_bytes(store: ObjectStore, digest: str) -> bytes:
    """The canonical JSON, verified against its digest."""
    packed = await (await store.open_object(manifest_key(digest))).read_all()
    document = await asyncio.to_thread(gzip.decompress, packed)
    if hashlib.sha256(document).hexdigest() != digest:
        raise BlobCorrupted(f"the manifest stored for {digest} does not hash to it", field="manifest_digest")
    return document


async def load_manifest(store: ObjectStore, digest: str) -> Manifest:
    return Manifest.from_bytes(await load_manifest_bytes(store, digest))
