"""What the service's readers read (its streamed archives, and the URLs it signs for direct downloads):
a manifest entry with where its blob lies, read from the store a page at a time, and opened with a GET
of the service's own S3 client, ranged for a blob inside a pack (the read-ahead and the verification
are mlops.datasets.prefetch's)."""

from __future__ import annotations

from dataclasses import dataclass

from mlops.datasets.prefetch import BlobResponse, Opener
from mlops.kernel.objectstore import ObjectStore, blob_key, safe_key

from .domain import ManifestEntry
from .store import DatasetUnit, PackedBlob


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


async def stored_entries_after(
    uow: DatasetUnit,
    dataset_id: str,
    number: int,
    after: str | None,
    limit: int,
    *,
    with_checksums: bool = True,
) -> list[StoredEntry]:
    """Up to `limit` of the version's entries in manifest order after the one named `after`, each
    with its pack range and its recorded CRC-32 (`with_checksums`)."""
    entries = await uow.manifest_entries_after(dataset_id, number, after, limit)
    digests = {entry.sha256 for entry in entries}
    packed = await uow.packed_locations(digests)
    checksums = await uow.checksums(digests) if with_checksums else {}
    return [StoredEntry(e, packed.get(e.sha256), checksums.get(e.sha256)) for e in entries]


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
