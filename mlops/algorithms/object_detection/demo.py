"""Demo data: scenes of circles, squares and triangles in varied colours and sizes over textured,
noisy backgrounds, some overlapping, with their bounding boxes."""

from __future__ import annotations

import io

import numpy as np

from mlops.algorithms.base import Purpose, Sample

SHAPES = ["circle", "square", "triangle"]
SIZE = 64


def _scene(rng: np.random.Generator) -> tuple[bytes, list[dict]]:
    from PIL import Image, ImageDraw, ImageFilter

    base = rng.integers(40, 200, 3)
    gradient = np.linspace(-30, 30, SIZE)[None, :, None] * rng.uniform(-1, 1)
    background = np.clip(base[None, None, :] + gradient + rng.normal(0, 12, (SIZE, SIZE, 3)), 0, 255)
    image = Image.fromarray(background.astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.6))
    draw = ImageDraw.Draw(image)
    objects = []
    for _ in range(int(rng.integers(1, 5))):
        shape = SHAPES[int(rng.integers(3))]
        side = int(rng.integers(10, 24))
        x0, y0 = int(rng.integers(0, SIZE - side)), int(rng.integers(0, SIZE - side))
        box = [x0, y0, x0 + side, y0 + side]
        # Keep shapes distinguishable from the background: shift the colour away from it.
        colour = tuple(int(v) for v in (base + rng.choice([-1, 1], 3) * rng.integers(60, 120, 3)) % 256)
        if shape == "circle":
            draw.ellipse(box, fill=colour)
        elif shape == "square":
            draw.rectangle(box, fill=colour)
        else:
            draw.polygon([(x0 + side / 2, y0), (x0, y0 + side), (x0 + side, y0 + side)], fill=colour)
        objects.append({"label": shape, "box": [float(v) for v in box]})
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue(), objects


def shapes_scenes(seed: int = 0, scenes: int = 1000) -> list[Sample]:
    rng = np.random.default_rng(seed)
    samples = []
    for index in range(scenes):
        content, objects = _scene(rng)
        fraction = index / scenes
        purpose = (
            Purpose.TRAINING if fraction < 0.7 else Purpose.VALIDATION if fraction < 0.8 else Purpose.TESTING
        )
        samples.append(
            Sample(
                key=f"scene-{index:05d}.png",
                content=content,
                annotation={"objects": objects},
                purpose=purpose,
                media_type="image/png",
            )
        )
    return samples
