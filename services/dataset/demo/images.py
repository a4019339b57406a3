"""Demo data for image classification (handwritten digits) and object detection (shapes scenes).

The images come from the algorithms' own demo generators: digits zipped in ImageFolder layout (one
folder per label), scenes zipped with a COCO annotations.json (boxes as x, y, width, height).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from mlops.algorithms.image_classification.demo import digits_dataset
from mlops.algorithms.object_detection.demo import SHAPES, SIZE, shapes_scenes

from ..domain import Scenario
from ..ingest import UploadFormat, UploadSpec
from .spec import DEFAULT_RATIOS, DemoDataset, DemoFile


def _store(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    # A fixed time stamp: the same seed gives the same archive bytes.
    archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)


def image_classification(directory: Path, seed: int) -> DemoDataset:
    """scikit-learn's handwritten digits (8x8 grey PNGs), one folder per digit."""
    samples = digits_dataset(seed)
    path = directory / "digits.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for sample in samples:
            _store(archive, f"{sample.annotation}/{Path(sample.key).name}", sample.content)
    return DemoDataset(
        scenario=Scenario.IMAGE_CLASSIFICATION,
        name="demo-digits",
        description=f"{len(samples)} handwritten digits (8x8 grey images) from scikit-learn's data set.",
        tags=("demo", "vision"),
        files=(DemoFile(path, UploadSpec(file_name=path.name, format=UploadFormat.IMAGE_ARCHIVE)),),
        ratios=DEFAULT_RATIOS,
        seed=seed,
    )


def coco_document(names: list[str], annotations: list[dict[str, Any]], side: int) -> dict[str, Any]:
    """COCO for scenes whose annotations are {'objects': [{'label', 'box': [x0, y0, x1, y1]}]}."""
    categories = {shape: index + 1 for index, shape in enumerate(SHAPES)}
    document: dict[str, Any] = {
        "images": [],
        "annotations": [],
        "categories": [{"id": i, "name": shape} for shape, i in categories.items()],
    }
    for image_id, (name, annotation) in enumerate(zip(names, annotations, strict=True), start=1):
        document["images"].append({"id": image_id, "file_name": name, "width": side, "height": side})
        for item in annotation["objects"]:
            x0, y0, x1, y1 = item["box"]
            document["annotations"].append(
                {
                    "id": len(document["annotations"]) + 1,
                    "image_id": image_id,
                    "category_id": categories[item["label"]],
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "area": (x1 - x0) * (y1 - y0),
                    "iscrowd": 0,
                }
            )
    return document


def object_detection(directory: Path, seed: int) -> DemoDataset:
    """Scenes of circles, squares and triangles with their boxes, zipped with annotations.json."""
    samples = shapes_scenes(seed)
    path = directory / "shapes-scenes.zip"
    names = [sample.key for sample in samples]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for sample in samples:
            _store(archive, f"images/{sample.key}", sample.content)
        document = coco_document(names, [s.annotation for s in samples], SIZE)
        _store(archive, "annotations.json", json.dumps(document).encode())
    return DemoDataset(
        scenario=Scenario.OBJECT_DETECTION,
        name="demo-shapes-scenes",
        description=f"{len(samples)} synthetic 64x64 scenes with boxed circles, squares and triangles.",
        tags=("demo", "vision"),
        files=(DemoFile(path, UploadSpec(file_name=path.name, format=UploadFormat.COCO_JSON)),),
        ratios=DEFAULT_RATIOS,
        seed=seed,
    )
