"""Demo data for image classification (shapes in ImageFolder layout) and object detection (COCO)."""

from __future__ import annotations

import json
import random
import zipfile
from pathlib import Path
from typing import Any

from ..domain import Scenario
from ..ingest import UploadFormat, UploadSpec
from .png import Canvas, Colour
from .spec import DEFAULT_RATIOS, DemoDataset, DemoFile

SHAPES = ("circle", "square", "triangle")


def _store(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    # A fixed time stamp: the same seed gives the same archive bytes.
    archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)


def _background(rng: random.Random) -> Colour:
    grey = rng.randint(20, 80)
    return (grey, grey + rng.randint(0, 20), grey + rng.randint(0, 30))


def _colour(rng: random.Random) -> Colour:
    return (rng.randint(120, 255), rng.randint(120, 255), rng.randint(120, 255))


def _noise(rng: random.Random, canvas: Canvas, amount: int) -> None:
    points = [(rng.randrange(canvas.width), rng.randrange(canvas.height)) for _ in range(amount)]
    canvas.speckle(points, (200, 200, 200))


def _draw(canvas: Canvas, shape: str, x: int, y: int, size: int, colour: Colour) -> None:
    if shape == "circle":
        radius = size // 2
        canvas.fill_circle(x + radius, y + radius, radius, colour)
    elif shape == "square":
        canvas.fill_rect(x, y, size, size, colour)
    else:
        canvas.fill_triangle(x, y, size, colour)


def image_classification(directory: Path, seed: int, per_class: int = 100, side: int = 32) -> DemoDataset:
    """Circles, squares and triangles of varying size, colour and place, one folder per class."""
    rng = random.Random(seed)
    path = directory / "shapes.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for shape in SHAPES:
            for index in range(per_class):
                canvas = Canvas(side, side, _background(rng))
                size = rng.randint(side // 3, side - 6)
                x, y = rng.randint(1, side - size - 1), rng.randint(1, side - size - 1)
                _draw(canvas, shape, x, y, size, _colour(rng))
                _noise(rng, canvas, side)
                _store(archive, f"{shape}/{shape}-{index:04d}.png", canvas.png())
    return DemoDataset(
        scenario=Scenario.IMAGE_CLASSIFICATION,
        name="demo-shapes",
        description=f"{len(SHAPES) * per_class} synthetic {side}x{side} images of three shapes.",
        tags=("demo", "vision"),
        files=(DemoFile(path, UploadSpec(file_name=path.name, format=UploadFormat.IMAGE_ARCHIVE)),),
        ratios=DEFAULT_RATIOS,
        seed=seed,
    )


def object_detection(directory: Path, seed: int, images: int = 200, side: int = 64) -> DemoDataset:
    """Scenes of one to three shapes with COCO boxes, zipped with their annotations.json."""
    rng = random.Random(seed)
    path = directory / "shapes-detection.zip"
    coco: dict[str, Any] = {
        "images": [],
        "annotations": [],
        "categories": [{"id": i + 1, "name": s} for i, s in enumerate(SHAPES)],
    }
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for image_id in range(1, images + 1):
            canvas = Canvas(side, side, _background(rng))
            file_name = f"scene-{image_id:04d}.png"
            for _ in range(rng.randint(1, 3)):
                shape = rng.randrange(len(SHAPES))
                size = rng.randint(10, 24)
                x, y = rng.randint(0, side - size), rng.randint(0, side - size)
                _draw(canvas, SHAPES[shape], x, y, size, _colour(rng))
                coco["annotations"].append(
                    {
                        "id": len(coco["annotations"]) + 1,
                        "image_id": image_id,
                        "category_id": shape + 1,
                        "bbox": [x, y, size, size],
                        "area": size * size,
                        "iscrowd": 0,
                    }
                )
            _noise(rng, canvas, side)
            coco["images"].append({"id": image_id, "file_name": file_name, "width": side, "height": side})
            _store(archive, f"images/{file_name}", canvas.png())
        _store(archive, "annotations.json", json.dumps(coco).encode())
    return DemoDataset(
        scenario=Scenario.OBJECT_DETECTION,
        name="demo-shape-detection",
        description=f"{images} synthetic {side}x{side} scenes with boxed circles, squares and triangles.",
        tags=("demo", "vision"),
        files=(DemoFile(path, UploadSpec(file_name=path.name, format=UploadFormat.COCO_JSON)),),
        ratios=DEFAULT_RATIOS,
        seed=seed,
    )
