"""Samples on the command line: annotations and metadata from options, and a sample shown whole."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from mlops.api.dataset.v1 import dataset_pb2 as pb
from mlops.cli.client import HEX_ID, CliError, ServiceSession, console
from mlops.kernel.structs import struct_to_dict

BOX_SYNTAX = "LABEL:X,Y,W,H in pixels: the top-left corner, then width and height (COCO's convention)"


def parse_box(text: str, option: str = "--box") -> pb.BoundingBox:
    """`LABEL:X,Y,W,H` as a box; the label is everything before the last ':'."""
    label, sep, numbers = text.rpartition(":")
    if not sep or not label.strip():
        raise CliError(f"{option} {text!r}: expected {BOX_SYNTAX}")
    try:
        x, y, width, height = (float(n) for n in numbers.split(","))
    except ValueError:
        raise CliError(f"{option} {text!r}: expected {BOX_SYNTAX}") from None
    if not all(math.isfinite(v) for v in (x, y, width, height)):
        raise CliError(f"{option} {text!r}: the numbers must be finite")
    if x < 0 or y < 0 or width <= 0 or height <= 0:
        raise CliError(f"{option} {text!r}: needs X, Y >= 0 and a positive W and H")
    return pb.BoundingBox(label=label, x=x, y=y, width=width, height=height)


def annotation_from_options(
    *,
    label: str | None,
    target: float | None,
    boxes: Sequence[str] | None,
    clear: bool,
    names: tuple[str, str, str],
) -> pb.Annotation | None:
    """The annotation some options set: None when they set none, an empty Annotation for
    --clear-annotation. `names` are the label, target and box options' names, for errors."""
    given = [n for n, v in zip(names, (label, target, boxes), strict=True) if v not in (None, "", [])]
    if clear:
        given.append("--clear-annotation")
    if len(given) > 1:
        raise CliError(f"{' and '.join(given)} exclude each other: a sample has one kind of annotation")
    if clear:
        return pb.Annotation()
    if label:
        return pb.Annotation(label=label)
    if target is not None:
        if not math.isfinite(target):
            raise CliError(f"{names[1]} must be a finite number")
        return pb.Annotation(target=target)
    if boxes:
        return pb.Annotation(boxes=pb.BoxList(boxes=[parse_box(b, names[2]) for b in boxes]))
    return None


def metadata_from_options(
    pairs: Sequence[str] | None, json_text: str | None, base: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """`--metadata-json` (an object) replaces `base`; then each `--metadata KEY=VALUE` sets a key to
    the string VALUE. None when neither option is given."""
    if not pairs and json_text is None:
        return None
    result = dict(base or {})
    if json_text is not None:
        try:
            document = json.loads(json_text)
        except ValueError as exc:
            raise CliError(f"--metadata-json: not JSON ({exc})") from None
        if not isinstance(document, dict):
            raise CliError(
                """--metadata-json: expected a JSON object, e.g. '{"camera": "a", "exposure": 2}'"""
            )
        result = document
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"--metadata {pair!r}: expected KEY=VALUE")
        result[key] = value
    return result


def metadata_of(sample: pb.Sample) -> dict[str, Any]:
    """A sample's metadata; whole numbers as ints (a protobuf Struct carries every number as a double)."""
    return struct_to_dict(sample.metadata) if sample.HasField("metadata") else {}


def annotation_text(annotation: pb.Annotation, *, compact: bool = False) -> str:
    kind = annotation.WhichOneof("value")
    if kind == "label":
        return annotation.label if compact else f"label {annotation.label}"
    if kind == "target":
        return f"{annotation.target:g}" if compact else f"target {annotation.target:g}"
    if kind == "boxes":
        boxes = annotation.boxes.boxes
        count = f"{len(boxes)} box" if len(boxes) == 1 else f"{len(boxes)} boxes"
        if compact:
            return f"{count} ({', '.join(sorted({b.label for b in boxes}))})" if boxes else count
        shown = "; ".join(f"{b.label}:{b.x:g},{b.y:g},{b.width:g},{b.height:g}" for b in boxes)
        return f"{count}: {shown or '-'}"
    return "-"


def find_sample(session: ServiceSession, dataset_id: str, ref: str, version: int = 0) -> pb.Sample:
    """A draft sample by its id, or a draft's or version's sample by its name (a version's samples
    have no ids)."""
    if version == 0 and HEX_ID.match(ref):
        return session.call("GetSample", pb.GetSampleRequest(dataset_id=dataset_id, sample_id=ref))
    request = pb.ListSamplesRequest(
        dataset_id=dataset_id, version=version, filter=pb.SampleFilter(name_prefix=ref)
    )
    # Sorted by name, so the name itself comes before the longer names it starts.
    for sample in session.pages("ListSamples", request, "samples", page_size=50):
        if sample.name == ref:
            return sample  # type: ignore[no-any-return]
    where = f"v{version}" if version else "the draft"
    raise CliError(f"no sample {ref!r} in {where} (give a draft sample's id or a sample's name)")


def print_sample(sample: pb.Sample, purpose: str, version: int = 0) -> None:
    where = f"in v{version}" if version else sample.id
    console.print(f"[bold]{sample.name}[/] ({where})", highlight=False)
    console.print(f"  purpose: {purpose}   annotation: {annotation_text(sample.annotation)}", highlight=False)
    console.print(
        f"  size: {sample.size_bytes} bytes   media type: {sample.media_type or '-'}   "
        f"sha256: {sample.content_sha256}",
        highlight=False,
    )
    metadata = metadata_of(sample)
    console.print(f"  metadata: {json.dumps(metadata, sort_keys=True) if metadata else '-'}", highlight=False)
    if sample.HasField("observed_at"):
        console.print(f"  observed at: {sample.observed_at.ToDatetime().isoformat()}Z", highlight=False)
