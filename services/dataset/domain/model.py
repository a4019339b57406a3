"""Datasets, samples and their annotations: plain values with the rules that keep them valid."""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from mlops.kernel.errors import InvalidArgument
from mlops.kernel.scenarios import Purpose as Purpose
from mlops.kernel.scenarios import Scenario as Scenario
from mlops.kernel.scenarios import is_purpose_name as is_purpose_name

MAX_NAME_LENGTH = 64
MAX_DESCRIPTION_LENGTH = 2000
MAX_TAGS = 32
MAX_TAG_LENGTH = 64
MAX_SAMPLE_NAME_LENGTH = 512
MAX_LABEL_LENGTH = 128

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:=/-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Label:
    """A class label (classification, anomaly flags, log cluster names)."""

    name: str


@dataclass(frozen=True)
class Target:
    """A regression target (the value a forecaster predicts)."""

    value: float


@dataclass(frozen=True)
class BoundingBox:
    """A box in pixels: top-left corner, width and height (COCO's convention)."""

    label: str
    x: float
    y: float
    width: float
    height: float

    def fits_in(self, image_width: int, image_height: int) -> bool:
        return (
            self.x >= 0
            and self.y >= 0
            and self.width > 0
            and self.height > 0
            and self.x + self.width <= image_width
            and self.y + self.height <= image_height
        )


@dataclass(frozen=True)
class Boxes:
    boxes: tuple[BoundingBox, ...]


Annotation = Label | Target | Boxes | None


def label_of(annotation: Annotation) -> str:
    """The class label, or "" for samples without one (targets, boxes, nothing)."""
    return annotation.name if isinstance(annotation, Label) else ""


def check_label(name: str, *, field: str = "label") -> str:
    stripped = name.strip()
    if not stripped:
        raise InvalidArgument("a label cannot be empty", field=field)
    if len(stripped) > MAX_LABEL_LENGTH:
        raise InvalidArgument(f"a label has at most {MAX_LABEL_LENGTH} characters", field=field)
    if any(ord(c) < 32 for c in stripped):
        raise InvalidArgument("a label cannot contain control characters", field=field)
    return stripped


def image_size(metadata: Mapping[str, Any] | None) -> tuple[int, int] | None:
    """(width, height) of an image sample, from the metadata ingest records for every image."""
    if not metadata:
        return None
    width, height = metadata.get("width"), metadata.get("height")
    if isinstance(width, bool) or isinstance(height, bool):
        return None
    if isinstance(width, int | float) and isinstance(height, int | float) and width > 0 and height > 0:
        return int(width), int(height)
    return None


def check_annotation(
    scenario: Scenario,
    annotation: Annotation,
    *,
    field: str = "annotation",
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Refuses an annotation of a kind the scenario's algorithms cannot learn from, and boxes that
    reach outside their image (its size from the sample's `metadata`, where known)."""
    if annotation is None:
        return
    allowed = _ANNOTATION_KINDS[scenario]
    if not isinstance(annotation, allowed):
        names = " or ".join(kind.__name__.lower() for kind in allowed)
        raise InvalidArgument(
            f"a {scenario.value} sample takes a {names} annotation, not {type(annotation).__name__.lower()}",
            field=field,
        )
    if isinstance(annotation, Label):
        check_label(annotation.name, field=field)
    elif isinstance(annotation, Target) and not math.isfinite(annotation.value):
        raise InvalidArgument("a target must be a finite number", field=field)
    elif isinstance(annotation, Boxes):
        for box in annotation.boxes:
            check_label(box.label, field=field)
            if box.width <= 0 or box.height <= 0 or box.x < 0 or box.y < 0:
                raise InvalidArgument(f"box {box} needs x, y >= 0 and a positive size", field=field)
        _check_boxes_fit(annotation, image_size(metadata), field)


def _check_boxes_fit(annotation: Boxes, size: tuple[int, int] | None, field: str) -> None:
    if size is None:
        return
    width, height = size
    for box in annotation.boxes:
        if not box.fits_in(width, height):
            raise InvalidArgument(
                f"box [{box.x:g}, {box.y:g}, {box.width:g}, {box.height:g}] ({box.label}) lies outside "
                f"the {width}x{height} image",
                field=field,
            )


_ANNOTATION_KINDS: dict[Scenario, tuple[type, ...]] = {
    Scenario.ANOMALY_DETECTION: (Label,),
    Scenario.TIME_SERIES_FORECASTING: (Target,),
    Scenario.LOG_CLUSTERING: (Label,),
    Scenario.TEXT_CLASSIFICATION: (Label,),
    Scenario.IMAGE_CLASSIFICATION: (Label,),
    Scenario.OBJECT_DETECTION: (Boxes,),
}


def check_dataset_name(name: str) -> str:
    if not name:
        raise InvalidArgument("a dataset needs a name", field="name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument(f"a dataset name has at most {MAX_NAME_LENGTH} characters", field="name")
    if not _NAME.match(name):
        raise InvalidArgument(
            "a dataset name starts with a letter or digit and holds only letters, digits, '.', '_' and '-'",
            field="name",
        )
    return name


def check_tags(tags: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Tags in first-seen order without duplicates."""
    unique: list[str] = []
    for tag in tags:
        tag = tag.strip()
        if not tag or len(tag) > MAX_TAG_LENGTH or not _TAG.match(tag):
            raise InvalidArgument(
                f"tag {tag!r}: 1 to {MAX_TAG_LENGTH} characters, letters, digits and . _ : = / -",
                field="tags",
            )
        if tag not in unique:
            unique.append(tag)
    if len(unique) > MAX_TAGS:
        raise InvalidArgument(f"a dataset has at most {MAX_TAGS} tags", field="tags")
    return tuple(unique)


def check_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidArgument(
            f"a description has at most {MAX_DESCRIPTION_LENGTH} characters", field="description"
        )
    return description


def check_sample_name(name: str, *, field: str = "name") -> str:
    if not name or not name.strip():
        raise InvalidArgument("a sample needs a name", field=field)
    if len(name) > MAX_SAMPLE_NAME_LENGTH:
        raise InvalidArgument(f"a sample name has at most {MAX_SAMPLE_NAME_LENGTH} characters", field=field)
    if any(ord(c) < 32 for c in name):
        raise InvalidArgument(f"sample name {name!r} contains control characters", field=field)
    return name


def check_metadata(metadata: dict[str, Any], *, field: str = "metadata") -> dict[str, Any]:
    """Metadata is frozen into manifests as canonical JSON, so it must be plain JSON without NaN."""
    try:
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(
            f"metadata must be plain JSON (no NaN or infinity): {exc}", field=field
        ) from None
    if not all(isinstance(key, str) for key in metadata):
        raise InvalidArgument("metadata keys must be strings", field=field)
    return metadata


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Dataset:
    """A named collection of samples for one scenario; its versions are numbered from 1."""

    dataset_id: str
    name: str
    scenario: Scenario
    owner: str
    description: str = ""
    tags: tuple[str, ...] = ()
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    latest_version: int = 0

    @classmethod
    def create(
        cls,
        *,
        name: str,
        scenario: Scenario,
        owner: str,
        description: str = "",
        tags: list[str] | tuple[str, ...] = (),
        now: datetime | None = None,
        dataset_id: str | None = None,
    ) -> Dataset:
        now = now or utcnow()
        return cls(
            dataset_id=dataset_id or new_id(),
            name=check_dataset_name(name),
            scenario=scenario,
            owner=owner,
            description=check_description(description),
            tags=check_tags(tags),
            created_at=now,
            updated_at=now,
        )

    def update(
        self,
        *,
        now: datetime,
        name: str | None = None,
        description: str | None = None,
        tags: list[str] | tuple[str, ...] | None = None,
        replace_tags: bool = False,
    ) -> Dataset:
        """Without replace_tags the given tags are added to the existing ones."""
        changes: dict[str, Any] = {"updated_at": now}
        if name is not None:
            changes["name"] = check_dataset_name(name)
        if description is not None:
            changes["description"] = check_description(description)
        if tags is not None and (tags or replace_tags):
            changes["tags"] = check_tags(list(tags) if replace_tags else [*self.tags, *tags])
        return replace(self, **changes)

    def next_version_number(self) -> int:
        return self.latest_version + 1


@dataclass(frozen=True)
class Sample:
    """One item of a dataset: content-addressed bytes plus what the trainer learns from them."""

    name: str
    content_sha256: str
    size_bytes: int
    media_type: str
    purpose: Purpose = Purpose.TRAINING
    annotation: Annotation = None
    metadata: dict[str, Any] = field(default_factory=dict)
    observed_at: datetime | None = None
    sample_id: str = field(default_factory=new_id)
    # When the sample entered the draft (set by the store); not part of what the sample is.
    created_at: datetime | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        check_sample_name(self.name)
        if not _SHA256.match(self.content_sha256):
            raise InvalidArgument(
                f"sample {self.name!r}: content_sha256 must be 64 lowercase hex digits",
                field="content_sha256",
            )
        check_metadata(self.metadata, field=f"samples[{self.name}].metadata")
        if self.size_bytes < 0:
            raise InvalidArgument(f"sample {self.name!r}: size cannot be negative", field="size_bytes")
        if self.observed_at is not None and self.observed_at.tzinfo is None:
            raise InvalidArgument(f"sample {self.name!r}: observed_at needs a time zone", field="observed_at")

    @property
    def label(self) -> str:
        return label_of(self.annotation)

    def with_changes(self, **changes: Any) -> Sample:
        return replace(self, **changes)
