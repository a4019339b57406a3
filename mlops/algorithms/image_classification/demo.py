"""Demo data: scikit-learn's bundled handwritten digits (8x8 grey images), as PNG samples."""

from __future__ import annotations

import numpy as np

from mlops.algorithms.base import Purpose, Sample
from mlops.algorithms.image_classification.processing import encode_png


def stratified_purposes(
    labels: list[str], seed: int, validation: float = 0.1, testing: float = 0.2
) -> list[Purpose]:
    """Assign purposes per class so every split keeps the class balance."""
    rng = np.random.default_rng(seed)
    purposes = [Purpose.TRAINING] * len(labels)
    for label in sorted(set(labels)):
        members = [i for i, value in enumerate(labels) if value == label]
        rng.shuffle(members)
        n_test = round(len(members) * testing)
        n_val = round(len(members) * validation)
        for i in members[:n_test]:
            purposes[i] = Purpose.TESTING
        for i in members[n_test : n_test + n_val]:
            purposes[i] = Purpose.VALIDATION
    return purposes


def digits_dataset(seed: int = 0) -> list[Sample]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    labels = [str(int(t)) for t in digits.target]
    purposes = stratified_purposes(labels, seed)
    samples = []
    for index, (image, label, purpose) in enumerate(zip(digits.images, labels, purposes, strict=True)):
        pixels = np.rint(image * 255.0 / 16.0).astype(np.uint8)
        samples.append(
            Sample(
                key=f"digits/{index:04d}.png",
                content=encode_png(pixels),
                annotation=label,
                purpose=purpose,
                media_type="image/png",
            )
        )
    return samples
