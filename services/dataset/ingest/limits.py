"""How much an upload may hold. Defaults suit the embedded stack; the service may pass its own."""

from __future__ import annotations

from dataclasses import dataclass

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


@dataclass(frozen=True)
class IngestLimits:
    # One uploaded file as received, before any decompression.
    max_upload_bytes: int = 2 * GiB
    # A whole upload (every file of one UploadSamples call) as received: what it holds on disk.
    max_upload_files: int = 100_000
    max_upload_total_bytes: int = 16 * GiB
    # One sample's content (an image in an archive, a single uploaded file).
    max_sample_bytes: int = 64 * MiB
    # Archives: what they expand to, counted while reading, not taken from their headers.
    max_archive_members: int = 200_000
    max_uncompressed_bytes: int = 8 * GiB
    # A TAR's GNU long-name/long-link or PAX header: tarfile reads one whole into memory.
    max_tar_header_bytes: int = 1 * MiB
    # Record files (CSV rows, JSONL and log lines).
    max_records: int = 2_000_000
    max_record_bytes: int = 1 * MiB
    max_coco_json_bytes: int = 256 * MiB
    # Width x height read from an image's header; bigger ones would exhaust a trainer's memory.
    max_image_pixels: int = 100_000_000
    # Contents up to this size are kept as bytes; larger ones go to a temporary file.
    spool_threshold_bytes: int = 1 * MiB
