"""What the store hands back besides domain objects: version summaries, pages, listing filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from ..domain import Scenario, VersionState

T = TypeVar("T")


@dataclass(frozen=True)
class VersionRecord:
    """A published version without its entries: what lists and events need, cheap to load."""

    dataset_id: str
    number: int
    scenario: Scenario
    state: VersionState
    manifest_digest: str
    author: str
    message: str
    created_at: datetime
    sample_count: int
    total_bytes: int
    counts_per_purpose: dict[str, int]
    counts_per_label: dict[str, int]
    used_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetQuery:
    """ListDatasets' filter; empty fields do not filter."""

    scenario: Scenario | None = None
    owner: str = ""
    tag: str = ""
    name_contains: str = ""


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    # Offset of the next page, or None on the last one.
    next_offset: int | None = None


@dataclass(frozen=True)
class PackedBlob:
    """One small blob inside a pack object: bytes [offset, offset + length) of the pack."""

    sha256: str
    offset: int
    length: int
    pack_key: str = ""


@dataclass(frozen=True)
class DraftManifest:
    """A draft as a publish needs it, without a domain object per sample: its entries' canonical
    JSON in name order and the same totals `Manifest` computes."""

    entry_documents: list[str]
    total_bytes: int
    counts_per_purpose: dict[str, int]
    counts_per_label: dict[str, int]

    @property
    def sample_count(self) -> int:
        return len(self.entry_documents)
