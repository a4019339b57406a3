"""A dataset version's archive (DownloadVersion, tar.gz) as the algorithms' in-memory samples.

The archive holds manifest.json (the dataset service's canonical manifest: name, sha256, media type,
purpose and annotation per sample) and the samples' bytes. Members are matched to entries by content
hash, so the archive's member naming is no concern of ours, and every sample's bytes are verified.
The dataset's annotation kinds (label, target, boxes) are mapped onto the algorithms' annotation forms.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from typing import Any

from mlops.algorithms.base import Purpose, Sample
from mlops.kernel.errors import InvalidArgument

MANIFEST_NAME = "manifest.json"


def samples_from_archive(archive: bytes) -> tuple[list[Sample], dict[str, Any]]:
    """The samples and the manifest document of a tar.gz version archive."""
    manifest: dict[str, Any] | None = None
    contents: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as packed:
        for member in packed:
            if not member.isfile():
                continue
            extracted = packed.extractfile(member)
            if extracted is None:
                continue
            content = extracted.read()
            if member.name == MANIFEST_NAME:
                manifest = json.loads(content)
            else:
                contents[hashlib.sha256(content).hexdigest()] = content
    if manifest is None:
        raise InvalidArgument("the version archive has no manifest.json", field="dataset")
    samples = []
    for entry in manifest.get("samples", []):
        data = contents.get(entry["sha256"])
        if data is None:
            raise InvalidArgument(f"the archive lacks the bytes of sample {entry['name']!r}", field="dataset")
        samples.append(
            Sample(
                key=entry["name"],
                content=data,
                annotation=algorithm_annotation(entry),
                purpose=Purpose(entry.get("purpose", "training")),
                media_type=entry.get("media_type", "application/octet-stream"),
            )
        )
    return samples, manifest


def algorithm_annotation(entry: dict[str, Any]) -> Any:
    """label -> the label string; target -> the number;
    boxes -> {'objects': [{'label': ..., 'box': [x0, y0, x1, y1]}]}.

    Annotation forms the dataset service has no kind for (an anomaly mask) travel in the sample's
    metadata under "annotation"."""
    annotation = entry.get("annotation")
    if annotation is None:
        return (entry.get("metadata") or {}).get("annotation")
    if "label" in annotation:
        return annotation["label"]
    if "target" in annotation:
        return annotation["target"]
    if "boxes" in annotation:
        return {
            "objects": [
                {"label": b["label"], "box": [b["x"], b["y"], b["x"] + b["width"], b["y"] + b["height"]]}
                for b in annotation["boxes"]
            ]
        }
    return annotation
