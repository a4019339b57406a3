"""Settings of the dataset service process (MLOPS_* environment variables)."""

from __future__ import annotations

import dataclasses

from mlops.datasets.checksum import Verification
from mlops.kernel.runtime import RuntimeSettings

from .ingest import IngestLimits, MiB


class DatasetSettings(RuntimeSettings):
    service_name: str = "dataset"
    grpc_port: int = 50051

    # Upload limits: what each bounds is said in services/dataset/ingest/limits.py, whose defaults
    # these are (MLOPS_MAX_UPLOAD_BYTES and so on).
    max_upload_bytes: int = IngestLimits.max_upload_bytes
    max_upload_files: int = IngestLimits.max_upload_files
    max_upload_total_bytes: int = IngestLimits.max_upload_total_bytes
    max_sample_bytes: int = IngestLimits.max_sample_bytes
    max_archive_members: int = IngestLimits.max_archive_members
    max_uncompressed_bytes: int = IngestLimits.max_uncompressed_bytes
    max_tar_header_bytes: int = IngestLimits.max_tar_header_bytes
    max_records: int = IngestLimits.max_records
    max_record_bytes: int = IngestLimits.max_record_bytes
    max_coco_json_bytes: int = IngestLimits.max_coco_json_bytes
    max_image_pixels: int = IngestLimits.max_image_pixels
    spool_threshold_bytes: int = IngestLimits.spool_threshold_bytes
    # Blobs stored at once while ingesting: S3 round trips dominate small samples.
    upload_concurrency: int = 16
    # Worker threads of the process (the minio SDK is synchronous): asyncio's default of
    # cpu + 4 caps small-blob uploads near 140/s on 2 cores; 32 doubles that against SeaweedFS.
    io_threads: int = 32
    # A batch of at least `pack_min_blobs` new blobs of at most `pack_max_blob_bytes` each is stored
    # as one pack object (services/dataset/packs.py): one PUT instead of one per blob (a bare 2 KB
    # PUT loop tops out near 400/s here). Fewer stay blob objects: packs pay off in bulk only.
    pack_min_blobs: int = 64
    pack_max_blob_bytes: int = 64 * 1024

    # The collector rewrites a pack whose unreferenced members hold at least this share of its bytes
    # with the referenced ones only (above 1: never); a pack with less garbage is kept whole.
    repack_garbage_fraction: float = 0.5

    # The collector deletes only unreferenced blobs older than this: an upload in flight has
    # stored blobs that no committed row names yet.
    gc_grace_seconds: float = 3600.0
    # How often the service collects garbage by itself (0: only when asked, `mlops datasets gc`).
    # Each collection lists every blob object, so not too often for a large store.
    gc_interval_seconds: float = 6 * 3600.0
    # Reservations of uploads (and marks of collections) that died are forgotten after this.
    reservation_ttl_seconds: float = 24 * 3600.0

    # Each chunk leaves as one DownloadChunk message: stay under 4 MiB, gRPC clients' default limit
    # (the CLI's). Bigger chunks cost the sender a little less (4 MiB: ~0.3 s of CPU less per GiB).
    download_chunk_bytes: int = 1 * MiB
    # A fast level; compressed media is stored as it is, and other members are deflated only when a
    # probe of their first bytes compresses to at most this ratio (1.0: deflate every other member).
    download_compression_level: int = 1
    download_deflate_max_ratio: float = 0.5
    # Blobs read ahead in parallel while the archive is written, each buffering at most `depth`
    # reads of 4 MiB (mlops.datasets.prefetch.READ_SIZE) besides the one in flight: memory stays under
    # window * (depth + 1) * 4 MiB (32 MiB) whatever the version's size. Deeper queues bought no speed.
    download_prefetch_window: int = 4
    download_prefetch_depth: int = 1
    # A version's entries are read from the database this many at a time while its archive is
    # written: memory stays flat whatever the number of samples.
    download_page_entries: int = 1000
    # What the service checks each blob it streams against: "crc32" (the CRC-32 recorded at upload,
    # the SHA-256 for blobs stored before CRCs were) or "sha256" (always; ~0.6 CPU-s more per GiB).
    download_verification: Verification = Verification.CRC32

    def ingest_limits(self) -> IngestLimits:
        return IngestLimits(
            **{limit.name: getattr(self, limit.name) for limit in dataclasses.fields(IngestLimits)}
        )
