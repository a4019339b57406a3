"""A generated image dataset of realistic size for the serving bench: coloured shapes on noise.

Each image is `size` x `size` RGB: a textured noise background in one random colour and one shape
(disc, square, triangle, ring) in another, at a random place and scale. The label is the shape. Made by
code from a seed, so the bench downloads nothing and every run trains on the same images.
"""

from __future__ import annotations

import numpy as np

from mlops.algorithms.base import Purpose, Sample
from mlops.algorithms.image_classification.demo import stratified_purposes
from mlops.algorithms.image_classification.processing import encode_png

SHAPES = ("disc", "square", "triangle", "ring")


def shapes_dataset(count: int = 800, size: int = 32, seed: int = 0) -> list[Sample]:
    rng = np.random.default_rng(seed)
    labels = [SHAPES[i % len(SHAPES)] for i in range(count)]
    purposes: list[Purpose] = stratified_purposes(labels, seed)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    samples = []
    for index, (label, purpose) in enumerate(zip(labels, purposes, strict=True)):
        mask = _shape_mask(label, rows, cols, size, rng)
        tint = rng.uniform(0.0, 1.0, 3)
        background = _noise(size, rng) * (0.2 + 0.5 * tint)
        # The shape's colour stays clear of the background's: the label must be visible.
        colour = np.clip(1.0 - tint + rng.uniform(-0.15, 0.15, 3), 0.0, 1.0)
        pixels = np.where(mask[..., None], colour, background)
        samples.append(
            Sample(
                key=f"shapes/{index:05d}.png",
                content=encode_png(np.rint(pixels * 255).astype(np.uint8)),
                annotation=label,
                purpose=purpose,
                media_type="image/png",
            )
        )
    return samples


def _noise(size: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth random texture in [0, 1]: coarse noise upsampled, plus fine grain."""
    coarse = rng.random((size // 4, size // 4, 1))
    smooth = np.kron(coarse, np.ones((4, 4, 1)))
    return np.clip(0.7 * smooth + 0.3 * rng.random((size, size, 1)), 0.0, 1.0)


def _shape_mask(
    label: str, rows: np.ndarray, cols: np.ndarray, size: int, rng: np.random.Generator
) -> np.ndarray:
    radius = rng.uniform(0.18, 0.32) * size
    cy, cx = rng.uniform(radius, size - radius, 2)
    dy, dx = rows - cy, cols - cx
    if label == "disc":
        return np.asarray(dy**2 + dx**2 <= radius**2)
    if label == "ring":
        distance = np.sqrt(dy**2 + dx**2)
        return np.asarray((distance <= radius) & (distance >= 0.55 * radius))
    if label == "square":
        return np.asarray((np.abs(dy) <= radius * 0.8) & (np.abs(dx) <= radius * 0.8))
    # An upward triangle: below the apex, inside both slanted edges.
    below = dy >= -radius
    inside = np.abs(dx) <= (dy + radius) * 0.6
    return np.asarray(below & inside & (dy <= radius))
