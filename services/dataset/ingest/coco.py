"""COCO detection annotations: a ZIP/TAR with one COCO JSON file and the images it lists, or a bare
COCO file that annotates samples uploaded before or beside it (annotations.py).

The JSON is parsed and checked whole first (every category known, every box inside its image),
then the images are read; each must be listed and have the size the JSON says.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, TypeGuard

from mlops.kernel.errors import InvalidArgument

from ..domain import BoundingBox, Boxes, check_label
from .archives import archive_members
from .images import checked_image, is_ignorable
from .limits import IngestLimits
from .names import base_name, safe_relative_path
from .records import IngestedSample, sample_from

# COCO boxes are floats; a rounding error at the border is not a box outside the image.
_EDGE_TOLERANCE = 1e-6
# Enough to see past a JSON document's leading whitespace; exporters write a UTF-8 BOM at times.
_SNIFF_BYTES = 4096
_UTF8_BOM = b"\xef\xbb\xbf"
_JSON_WHITESPACE = b" \t\r\n"


@dataclass(frozen=True)
class CocoImage:
    file_name: str
    width: int
    height: int
    boxes: Boxes


@dataclass(frozen=True)
class CocoAnnotations:
    images: dict[str, CocoImage]  # by file_name as the JSON writes it
    categories: tuple[str, ...]

    def find(self, member_name: str, json_folder: str) -> CocoImage | None:
        """The image an archive member is, relative to the JSON's folder or its images/ folder."""
        relative = member_name.removeprefix(f"{json_folder}/") if json_folder else member_name
        for key in (relative, relative.removeprefix("images/"), base_name(member_name)):
            if key in self.images:
                return self.images[key]
        return None


def parse_coco(data: bytes, *, source: str) -> CocoAnnotations:
    """Checks a COCO detection document; errors name the image or annotation at fault."""
    try:
        document = json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"{source}: malformed JSON: {exc}", field="file") from None
    if not isinstance(document, dict):
        raise InvalidArgument(f"{source}: a COCO file is a JSON object", field="file")
    for key in ("images", "annotations", "categories"):
        if not isinstance(document.get(key), list):
            raise InvalidArgument(f"{source}: needs a list {key!r}", field="file")
    categories = _categories(document["categories"], source)
    images = _images(document["images"], source)
    boxes: dict[int, list[BoundingBox]] = {image_id: [] for image_id in images}
    for index, item in enumerate(document["annotations"]):
        where = f"{source}: annotations[{index}]"
        if not isinstance(item, dict):
            raise InvalidArgument(f"{where}: expected an object", field="file")
        image_id, category_id = item.get("image_id"), item.get("category_id")
        image = images.get(image_id) if _is_int(image_id) else None
        if image is None:
            raise InvalidArgument(f"{where}: unknown image_id {item.get('image_id')!r}", field="file")
        label = categories.get(category_id) if _is_int(category_id) else None
        if label is None:
            raise InvalidArgument(f"{where}: unknown category_id {item.get('category_id')!r}", field="file")
        box = _box(item.get("bbox"), label, where)
        if not _fits(box, image):
            raise InvalidArgument(
                f"{where}: box {[box.x, box.y, box.width, box.height]} lies outside image "
                f"{image.file_name!r} ({image.width}x{image.height})",
                field="file",
            )
        assert _is_int(image_id)
        boxes[image_id].append(_clamped(box, image))
    by_name = {
        image.file_name: CocoImage(image.file_name, image.width, image.height, Boxes(tuple(boxes[image_id])))
        for image_id, image in images.items()
    }
    return CocoAnnotations(by_name, tuple(sorted(set(categories.values()))))


def read_coco_archive(stream: IO[bytes], *, file_name: str, limits: IngestLimits) -> Iterator[IngestedSample]:
    annotations, json_name = _find_annotations(stream, file_name, limits)
    json_folder = json_name.rpartition("/")[0]
    stream.seek(0)
    found: set[str] = set()
    for member in archive_members(stream, file_name=file_name, limits=limits):
        if member.name == json_name or is_ignorable(member.name):
            continue
        image = annotations.find(member.name, json_folder)
        if image is None:
            raise InvalidArgument(f"{member.source}: the image is not listed in {json_name}", field="file")
        if image.file_name in found:
            raise InvalidArgument(f"{member.source}: a second file for {image.file_name!r}", field="file")
        found.add(image.file_name)
        content = member.read()
        info = checked_image(content, source=member.source, declared=None, limits=limits)
        if (info.width, info.height) != (image.width, image.height):
            if content.spool is not None:
                content.spool.close()
            raise InvalidArgument(
                f"{member.source}: the image is {info.width}x{info.height}, {json_name} says "
                f"{image.width}x{image.height}",
                field="file",
            )
        yield sample_from(
            content,
            name=member.name,
            media_type=info.media_type,
            source=member.source,
            annotation=image.boxes,
            metadata={"width": info.width, "height": info.height},
        )
    missing = sorted(annotations.images.keys() - found)
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5])
        raise InvalidArgument(
            f"{file_name}: {len(missing)} images listed in {json_name} are not in the archive: {shown}",
            field="file",
        )


def _find_annotations(stream: IO[bytes], file_name: str, limits: IngestLimits) -> tuple[CocoAnnotations, str]:
    """First pass: only the JSON member is read; TAR members are skipped, not kept."""
    found: tuple[bytes, str, str] | None = None
    for member in archive_members(stream, file_name=file_name, limits=limits):
        if not member.name.lower().endswith(".json") or is_ignorable(member.name):
            continue
        if found is not None:
            raise InvalidArgument(
                f"{file_name}: two JSON files ({found[1]!r}, {member.name!r}); expected one COCO file",
                field="file",
            )
        if member.declared_size > limits.max_coco_json_bytes:
            raise InvalidArgument(
                f"{member.source}: larger than the limit of {limits.max_coco_json_bytes} bytes", field="file"
            )
        content = member.read()
        data = content.data if content.data is not None else _read_spool(content.spool)
        found = (data, member.name, member.source)
    if found is None:
        raise InvalidArgument(f"{file_name}: no COCO annotations (.json) file in the archive", field="file")
    data, name, source = found
    return parse_coco(data, source=source), name


def _read_spool(spool: IO[bytes] | None) -> bytes:
    assert spool is not None
    with spool:
        spool.seek(0)
        return spool.read()


def is_coco_document(stream: IO[bytes]) -> bool:
    """Whether a file is a bare JSON object (its first byte past whitespace is "{"), not an archive
    (ZIP and TAR start otherwise). Rewinds the stream."""
    head = stream.read(_SNIFF_BYTES)
    stream.seek(0)
    return head.removeprefix(_UTF8_BOM).lstrip(_JSON_WHITESPACE).startswith(b"{")


def read_coco_json(stream: IO[bytes], *, file_name: str, limits: IngestLimits) -> CocoAnnotations:
    """A bare COCO file, for annotating samples of the draft or of the same upload (annotations.py)."""
    data = stream.read(limits.max_coco_json_bytes + 1)
    if len(data) > limits.max_coco_json_bytes:
        raise InvalidArgument(f"{file_name}: larger than {limits.max_coco_json_bytes} bytes", field="file")
    return parse_coco(data, source=file_name)


@dataclass(frozen=True)
class _Image:
    file_name: str
    width: int
    height: int


def _categories(items: list[Any], source: str) -> dict[int, str]:
    categories: dict[int, str] = {}
    for index, item in enumerate(items):
        where = f"{source}: categories[{index}]"
        if not isinstance(item, dict) or not _is_int(item.get("id")) or not isinstance(item.get("name"), str):
            raise InvalidArgument(f"{where}: needs an integer 'id' and a string 'name'", field="file")
        if item["id"] in categories:
            raise InvalidArgument(f"{where}: category id {item['id']} appears twice", field="file")
        categories[item["id"]] = check_label(item["name"], field=where)
    if not categories:
        raise InvalidArgument(f"{source}: no categories", field="file")
    return categories


def _images(items: list[Any], source: str) -> dict[int, _Image]:
    images: dict[int, _Image] = {}
    names: set[str] = set()
    for index, item in enumerate(items):
        where = f"{source}: images[{index}]"
        if (
            not isinstance(item, dict)
            or not _is_int(item.get("id"))
            or not isinstance(item.get("file_name"), str)
        ):
            raise InvalidArgument(f"{where}: needs an integer 'id' and a string 'file_name'", field="file")
        width, height = item.get("width"), item.get("height")
        if not (_is_int(width) and _is_int(height) and width > 0 and height > 0):
            raise InvalidArgument(f"{where}: needs positive integer 'width' and 'height'", field="file")
        name = safe_relative_path(item["file_name"], field=where)
        if item["id"] in images or name in names:
            raise InvalidArgument(
                f"{where}: image id {item['id']} or file {name!r} appears twice", field="file"
            )
        images[item["id"]] = _Image(name, int(width), int(height))
        names.add(name)
    if not images:
        raise InvalidArgument(f"{source}: no images", field="file")
    return images


def _box(value: Any, label: str, where: str) -> BoundingBox:
    if (
        not isinstance(value, list)
        or len(value) != 4
        or not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    ):
        raise InvalidArgument(f"{where}: 'bbox' must be [x, y, width, height] numbers", field="file")
    x, y, width, height = (float(v) for v in value)
    if width <= 0 or height <= 0:
        raise InvalidArgument(f"{where}: box {value} has no area", field="file")
    return BoundingBox(label=label, x=x, y=y, width=width, height=height)


def _fits(box: BoundingBox, image: _Image) -> bool:
    return (
        box.x >= -_EDGE_TOLERANCE
        and box.y >= -_EDGE_TOLERANCE
        and box.x + box.width <= image.width + _EDGE_TOLERANCE
        and box.y + box.height <= image.height + _EDGE_TOLERANCE
    )


def _clamped(box: BoundingBox, image: _Image) -> BoundingBox:
    x, y = max(box.x, 0.0), max(box.y, 0.0)
    return BoundingBox(
        label=box.label,
        x=x,
        y=y,
        width=min(box.width, image.width - x),
        height=min(box.height, image.height - y),
    )


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _refuse_constant(value: str) -> Any:
    raise ValueError(f"{value} is not valid JSON")
