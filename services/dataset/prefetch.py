"""What the service's prefetching readers read: a manifest entry with where its blob lies, opened
with a GET of the service's own S3 client, ranged for a blob inside a pack (the read-ahead and the
verification are mlops.datasets.prefetch's)."""

from __future__ import annotations

from dataclasses import dataclass

from mlops.datasets.prefetch import BlobResponse, Opener
from mlops.kernel.objectstore import ObjectStore, blob_key, safe_key

from .domain import ManifestEntry
from .store import PackedBlob


@dataclass(frozen=True)
class StoredEntry:
    """A manifest entry with where its blob lies: its pack range, if packed, and its CRC-32, if known."""

    entry: ManifestEntry
    location: PackedBlob | None
    crc: int | None

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def sha256(self) -> str:
        return self.entry.sha256

    @property
    def size_bytes(self) -> int:
        return self.entry.size_bytes

    @property
    def media_type(self) -> str:
        return self.entry.media_type


def s3_opener(store: ObjectStore) -> Opener[StoredEntry]:
    """Opens an entry's blob object, or its range of the pack that holds it."""
    client, bucket = store.client, store.bucket

    def open_blob(stored: StoredEntry) -> BlobResponse:
        location = stored.location
        if location is None:
            response = client.get_object(bucket_name=bucket, object_name=blob_key(stored.sha256))
        else:
            response = client.get_object(
                bucket_name=bucket,
                object_name=safe_key(location.pack_key),
                offset=location.offset,
                length=location.length,
            )
        return response  # type: ignore[no-any-return]

    return open_blob
