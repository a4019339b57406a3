"""The dataset service's persistence: one contract (base), one SQL implementation (sql)."""

from .base import DatasetStore, DatasetUnit
from .records import DatasetQuery, DraftManifest, PackedBlob, Page, VersionRecord
from .sql import SqlDatasetStore, SqlDatasetUnit

__all__ = [
    "DatasetQuery",
    "DatasetStore",
    "DatasetUnit",
    "DraftManifest",
    "PackedBlob",
    "Page",
    "SqlDatasetStore",
    "SqlDatasetUnit",
    "VersionRecord",
]
