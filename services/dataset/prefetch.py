"""How the service's prefetching readers open a blob: a GET with its own S3 client, ranged for a
blob inside a pack (the read-ahead and verification are mlops.datasets.prefetch's)."""

from __future__ import annotations

from collections.abc import Mapping

from mlops.datasets.prefetch import BlobResponse, Opener
from mlops.kernel.objectstore import ObjectStore, blob_key, safe_key

from .domain import ManifestEntry
from .store import PackedBlob


def s3_opener(store: ObjectStore, packed: Mapping[str, PackedBlob]) -> Opener[ManifestEntry]:
    """Opens a manifest entry's blob object, or its range of the pack that holds it."""
    client, bucket = store.client, store.bucket

    def open_blob(entry: ManifestEntry) -> BlobResponse:
        location = packed.get(entry.sha256)
        if location is None:
            response = client.get_object(bucket_name=bucket, object_name=blob_key(entry.sha256))
        else:
            response = client.get_object(
                bucket_name=bucket,
                object_name=safe_key(location.pack_key),
                offset=location.offset,
                length=location.length,
            )
        return response  # type: ignore[no-any-return]

    return open_blob
