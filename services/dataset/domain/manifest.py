"""Manifests: the canonical, hashable listing of a version's samples, and the diff of two of them."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlops.kernel.errors import InvalidArgument

from .model import Annotation, BoundingBox, Boxes, Label, Purpose, Sample, Target, label_of

MANIFEST_FORMAT = 1


def annotation_to_json(annotation: Annotation) -> dict[str, Any] | None:
    # Numbers as floats, as annotation_from_json reads them back: an entry serialised when its
    # sample is written must equal the one rebuilt from the stored row (2 and 2.0 differ in JSON).
    if annotation is None:
        return None
    if isinstance(annotation, Label):
        return {"label": annotation.name}
    if isinstance(annotation, Target):
        return {"target": float(annotation.value)}
    return {
        "boxes": [
            {
                "label": b.label,
                "x": float(b.x),
                "y": float(b.y),
                "width": float(b.width),
                "height": float(b.height),
            }
            for b in annotation.boxes
        ]
    }


def annotation_from_json(value: Mapping[str, Any] | None, *, field: str = "annotation") -> Annotation:
    if value is None:
        return None
    try:
        if "label" in value:
            return Label(str(value["label"]))
        if "target" in value:
            return Target(float(value["target"]))
        if "boxes" in value:
            return Boxes(
                tuple(
                    BoundingBox(
                        label=str(b["label"]),
                        x=float(b["x"]),
                        y=float(b["y"]),
                        width=float(b["width"]),
                        height=float(b["height"]),
                    )
                    for b in value["boxes"]
                )
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidArgument(f"malformed annotation {dict(value)!r}: {exc}", field=field) from None
    raise InvalidArgument(f"an annotation holds label, target or boxes, not {sorted(value)}", field=field)


def canonical_json(value: Any) -> bytes:
    """One byte string per value: sorted keys, no spaces, UTF-8, and no NaN (it has no JSON form)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def manifest_document(entry_documents: Iterable[str]) -> bytes:
    """The canonical bytes of a manifest from its entries' canonical JSON, already in name order.

    The same bytes as `canonical_json` of the whole document (sorted keys put "format" before
    "samples"), so a publish can join entries serialised when each sample was written.
    """
    return f'{{"format":{MANIFEST_FORMAT},"samples":[{",".join(entry_documents)}]}}'.encode()


class ManifestWriter:
    """The same bytes as `manifest_document`, produced a few entries at a time (a version too large to
    hold whole is written page by page): `start()`, `entries(...)` for each page, `end()`."""

    def __init__(self) -> None:
        self._wrote_an_entry = False

    def start(self) -> bytes:
        return f'{{"format":{MANIFEST_FORMAT},"samples":['.encode()

    def entries(self, entry_documents: Iterable[str]) -> bytes:
        joined = ",".join(entry_documents)
        if not joined:
            return b""
        text = "," + joined if self._wrote_an_entry else joined
        self._wrote_an_entry = True
        return text.encode()

    def end(self) -> bytes:
        return b"]}"


def _timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_timestamp(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


@dataclass(frozen=True)
class ManifestEntry:
    """Everything about one sample that a version freezes (all but the draft's row id)."""

    name: str
    sha256: str
    size_bytes: int
    media_type: str
    purpose: Purpose
    annotation: Annotation = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    observed_at: datetime | None = None

    @classmethod
    def of(cls, sample: Sample) -> ManifestEntry:
        return cls(
            name=sample.name,
            sha256=sample.content_sha256,
            size_bytes=sample.size_bytes,
            media_type=sample.media_type,
            purpose=sample.purpose,
            annotation=sample.annotation,
            metadata=dict(sample.metadata),
            observed_at=sample.observed_at,
        )

    @property
    def label(self) -> str:
        return label_of(self.annotation)

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": self.name,
            "sha256": self.sha256,
            "size": self.size_bytes,
            "media_type": self.media_type,
            "purpose": self.purpose.value,
            "annotation": annotation_to_json(self.annotation),
        }
        # Optional keys stay out when empty so that adding one later does not change older digests.
        if self.metadata:
            entry["metadata"] = dict(self.metadata)
        if self.observed_at is not None:
            entry["observed_at"] = _timestamp(self.observed_at)
        return entry

    def canonical(self) -> str:
        """This entry's part of the manifest's canonical JSON."""
        return canonical_json(self.to_json()).decode()

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> ManifestEntry:
        return cls(
            name=value["name"],
            sha256=value["sha256"],
            size_bytes=int(value["size"]),
            media_type=value["media_type"],
            purpose=Purpose(value["purpose"]),
            annotation=annotation_from_json(value.get("annotation")),
            metadata=dict(value.get("metadata") or {}),
            observed_at=_parse_timestamp(value.get("observed_at")),
        )

    def to_sample(self) -> Sample:
        return Sample(
            name=self.name,
            content_sha256=self.sha256,
            size_bytes=self.size_bytes,
            media_type=self.media_type,
            purpose=self.purpose,
            annotation=self.annotation,
            metadata=dict(self.metadata),
            observed_at=self.observed_at,
        )


@dataclass(frozen=True)
class Manifest:
    """Entries sorted by name (names are unique), so equal contents give equal bytes and digests."""

    entries: tuple[ManifestEntry, ...]

    @classmethod
    def of(cls, samples: Iterable[Sample]) -> Manifest:
        return cls.from_entries(ManifestEntry.of(s) for s in samples)

    @classmethod
    def from_entries(cls, entries: Iterable[ManifestEntry]) -> Manifest:
        ordered = tuple(sorted(entries, key=lambda e: e.name))
        for before, after in itertools.pairwise(ordered):
            if before.name == after.name:
                raise InvalidArgument(f"two samples are named {after.name!r}", field="name")
        return cls(ordered)

    def __len__(self) -> int:
        return len(self.entries)

    def to_json(self) -> dict[str, Any]:
        return {"format": MANIFEST_FORMAT, "samples": [e.to_json() for e in self.entries]}

    def to_bytes(self) -> bytes:
        return manifest_document(e.canonical() for e in self.entries)

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        document = json.loads(data)
        if document.get("format") != MANIFEST_FORMAT:
            raise InvalidArgument(f"unknown manifest format {document.get('format')!r}", field="manifest")
        return cls.from_entries(ManifestEntry.from_json(e) for e in document["samples"])

    def digest(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def total_bytes(self) -> int:
        return sum(e.size_bytes for e in self.entries)

    def counts_per_purpose(self) -> dict[str, int]:
        counts = Counter(e.purpose.value for e in self.entries)
        return {p.value: counts.get(p.value, 0) for p in Purpose}

    def counts_per_label(self) -> dict[str, int]:
        """Class labels of labelled samples and box labels of detection samples (one count per box)."""
        counts: Counter[str] = Counter()
        for entry in self.entries:
            if isinstance(entry.annotation, Label):
                counts[entry.annotation.name] += 1
            elif isinstance(entry.annotation, Boxes):
                counts.update(b.label for b in entry.annotation.boxes)
        return dict(sorted(counts.items()))

    def blob_digests(self) -> set[str]:
        return {e.sha256 for e in self.entries}

    def by_name(self) -> dict[str, ManifestEntry]:
        return {e.name: e for e in self.entries}


@dataclass(frozen=True)
class SampleChange:
    """One sample's move between two manifests; the side where it is absent is None."""

    name: str
    before: ManifestEntry | None
    after: ManifestEntry | None

    @property
    def from_sha256(self) -> str:
        return self.before.sha256 if self.before else ""

    @property
    def to_sha256(self) -> str:
        return self.after.sha256 if self.after else ""

    @property
    def from_label(self) -> str:
        return self.before.label if self.before else ""

    @property
    def to_label(self) -> str:
        return self.after.label if self.after else ""

    @property
    def from_purpose(self) -> Purpose | None:
        return self.before.purpose if self.before else None

    @property
    def to_purpose(self) -> Purpose | None:
        return self.after.purpose if self.after else None

    @property
    def label_moved(self) -> bool:
        return self.before is not None and self.after is not None and self.from_label != self.to_label

    @property
    def purpose_moved(self) -> bool:
        return self.before is not None and self.after is not None and self.from_purpose != self.to_purpose


@dataclass(frozen=True)
class ManifestDiff:
    added: tuple[SampleChange, ...]
    removed: tuple[SampleChange, ...]
    changed: tuple[SampleChange, ...]

    @property
    def label_moves(self) -> int:
        return sum(1 for c in self.changed if c.label_moved)

    @property
    def purpose_moves(self) -> int:
        return sum(1 for c in self.changed if c.purpose_moved)

    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def diff_manifests(before: Manifest, after: Manifest) -> ManifestDiff:
    """Samples are matched by name; a changed one differs in content, annotation, purpose or metadata."""
    old, new = before.by_name(), after.by_name()
    added = tuple(SampleChange(n, None, new[n]) for n in sorted(new.keys() - old.keys()))
    removed = tuple(SampleChange(n, old[n], None) for n in sorted(old.keys() - new.keys()))
    changed = tuple(
        SampleChange(n, old[n], new[n]) for n in sorted(old.keys() & new.keys()) if old[n] != new[n]
    )
    return ManifestDiff(added=added, removed=removed, changed=changed)
