"""Uploaded files to validated samples: format readers per scenario, with the safety checks."""

from .annotations import (
    AnnotationsFile,
    annotate,
    annotated_names,
    is_annotations_file,
    read_annotations_file,
)
from .archives import ArchiveMember, archive_members
from .coco import (
    CocoAnnotations,
    CocoImage,
    is_coco_document,
    parse_coco,
    read_coco_archive,
    read_coco_json,
)
from .images import read_image_file, read_image_folder
from .limits import GiB, IngestLimits, KiB, MiB
from .media import ImageInfo, inspect_image
from .names import safe_relative_path
from .records import IngestedSample
from .series import SERIES_SCENARIOS, read_series_file
from .spool import SpooledFile, UploadSpool
from .tabular import CsvOptions, CsvRecord, read_csv, read_csv_records
from .text import read_jsonl, read_log_lines
from .upload import (
    FORMATS_BY_SCENARIO,
    UploadFormat,
    UploadSpec,
    UploadSummary,
    check_header,
    check_upload_size,
    close_all,
    collect_upload,
    read_upload,
    validate_upload,
)

__all__ = [
    "FORMATS_BY_SCENARIO",
    "SERIES_SCENARIOS",
    "AnnotationsFile",
    "ArchiveMember",
    "CocoAnnotations",
    "CocoImage",
    "CsvOptions",
    "CsvRecord",
    "GiB",
    "ImageInfo",
    "IngestLimits",
    "IngestedSample",
    "KiB",
    "MiB",
    "SpooledFile",
    "UploadFormat",
    "UploadSpec",
    "UploadSpool",
    "UploadSummary",
    "annotate",
    "annotated_names",
    "archive_members",
    "check_header",
    "check_upload_size",
    "close_all",
    "collect_upload",
    "inspect_image",
    "is_annotations_file",
    "is_coco_document",
    "parse_coco",
    "read_annotations_file",
    "read_coco_archive",
    "read_coco_json",
    "read_csv",
    "read_csv_records",
    "read_image_file",
    "read_image_folder",
    "read_jsonl",
    "read_log_lines",
    "read_series_file",
    "read_upload",
    "safe_relative_path",
    "validate_upload",
]
