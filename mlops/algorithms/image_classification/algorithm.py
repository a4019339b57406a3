"""Image classification: a small CNN over labelled images, served as ONNX with top-k results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlops.algorithms import schema
from mlops.algorithms.base import (
    Algorithm,
    DatasetFormat,
    ModelCard,
    QualityBar,
    Sample,
    Scenario,
    TrainingContext,
    TrainingResult,
)
from mlops.algorithms.bundle import ModelBundle
from mlops.algorithms.image_classification import processing
from mlops.algorithms.image_classification.demo import digits_dataset
from mlops.algorithms.metrics import classification_metrics
from mlops.algorithms.predictor import OnnxBackend, TorchBackend
from mlops.algorithms.runtime import export_onnx, resolve_device, seed_everything
from mlops.algorithms.training import FitConfig, classification_evaluation, describe_fit, fit_classifier
from mlops.kernel.errors import InvalidArgument


class ImageClassification(Algorithm):
    id = "image-classification-cnn"
    version = "1.0.0"
    scenario = Scenario.IMAGE_CLASSIFICATION
    title = "Image classification (small CNN)"
    description = "A compact convolutional network for labelled images; returns the top-k labels."
    dataset_format = DatasetFormat(
        media_types=("image/png", "image/jpeg", "image/bmp", "image/gif"),
        annotation="the image's label name (a string)",
        annotation_schema={"type": "string", "minLength": 1},
        notes="Images are converted to the colour mode chosen and resized to the most common training size.",
    )
    quality_bars = (QualityBar("accuracy", minimum=0.95),)

    def parameter_schema(self) -> dict[str, Any]:
        return schema.form(
            "Image classification",
            {
                "epochs": schema.integer(
                    "Epochs", 30, 1, 200, "Passes over the training images.", group="training"
                ),
                "batch_size": schema.choice(
                    "Batch size", 32, [16, 32, 64, 128], "Images per step.", group="training"
                ),
                "learning_rate": schema.number(
                    "Learning rate",
                    0.003,
                    0.00001,
                    0.1,
                    "Peak learning rate of the one-cycle schedule.",
                    group="training",
                    widget="log-slider",
                ),
                "weight_decay": schema.number(
                    "Weight decay", 0.0001, 0.0, 0.1, "AdamW weight decay.", group="training", widget="number"
                ),
                "width": schema.choice(
                    "Width", 32, [8, 16, 32, 64], "Filters in the first layers.", group="model"
                ),
                "dropout": schema.number(
                    "Dropout", 0.2, 0.0, 0.8, "Dropout before the classifier.", group="model"
                ),
                "augment": schema.boolean(
                    "Shift augmentation", True, "Randomly shift training images by one pixel.", group="data"
                ),
                "color_mode": schema.choice(
                    "Colour mode", "grayscale", ["grayscale", "rgb"], "How images are read.", group="data"
                ),
                "top_k": schema.integer("Top k", 3, 1, 10, "Labels returned per prediction.", group="output"),
            },
        )

    def presets(self) -> dict[str, dict[str, Any]]:
        return {"quick": {"epochs": 3, "width": 8}, "default": {}}

    def example_input(self) -> Any:
        from sklearn.datasets import load_digits

        first = load_digits().images[0]
        return processing.encode_png(np.rint(first * 255.0 / 16.0).astype(np.uint8))

    def demo_dataset(self, seed: int = 0) -> list[Sample]:
        return digits_dataset(seed)

    def predictor(
        self, bundle: ModelBundle, *, device: str = "auto"
    ) -> processing.ImageClassificationPredictor:
        backend = OnnxBackend(bundle.onnx_model, bundle.signature, device=device)
        return processing.ImageClassificationPredictor(bundle.signature, bundle.preprocessing, backend)

    def train(
        self, samples: Sequence[Sample], params: dict[str, Any], context: TrainingContext
    ) -> TrainingResult:
        import torch

        from mlops.algorithms.image_classification.model import SmallCNN

        seed_everything(context.seed)
        device = resolve_device(context.device)
        splits = self.read_dataset(samples)
        if not splits.training or not splits.testing:
            raise InvalidArgument("needs samples labelled training and testing", field="dataset")
        labels = sorted({str(s.annotation) for s in samples})
        label_index = {label: i for i, label in enumerate(labels)}
        channels = 1 if params["color_mode"] == "grayscale" else 3
        size = _common_size(splits.training)
        state: dict[str, Any] = {
            "labels": labels,
            "channels": channels,
            "image_size": size,
            "top_k": params["top_k"],
            "mean": [0.0] * channels,
            "std": [1.0] * channels,
        }

        def load(split: list[Sample]) -> tuple[np.ndarray, np.ndarray]:
            images = np.stack([processing.decode_image(s.content, channels, size) for s in split])
            return images, np.asarray([label_index[str(s.annotation)] for s in split], dtype=np.int64)

        train_x, train_y = load(splits.training)
        state["mean"] = [float(v) for v in train_x.mean(axis=(0, 2, 3))]
        state["std"] = [max(float(v), 1e-6) for v in train_x.std(axis=(0, 2, 3))]
        val_x, val_y = load(splits.validation or splits.training)
        model = SmallCNN(channels, size, len(labels), params["width"], params["dropout"])
        fit = fit_classifier(
            model,
            (torch.from_numpy(processing.normalize(train_x, state)),),
            torch.from_numpy(train_y),
            (torch.from_numpy(processing.normalize(val_x, state)),),
            torch.from_numpy(val_y),
            FitConfig(
                params["epochs"], params["batch_size"], params["learning_rate"], params["weight_decay"]
            ),
            context,
            device,
            augment=_shift_by_one if params["augment"] else None,
        )
        signature = processing.signature(channels, size, len(labels))
        evaluator = processing.ImageClassificationPredictor(
            signature, state, TorchBackend(model, signature, device)
        )
        predictions = evaluator.predict([s.content for s in splits.testing])
        truth = np.asarray([label_index[str(s.annotation)] for s in splits.testing])
        predicted = np.asarray([label_index[p["label"]] for p in predictions])
        metrics = classification_metrics(truth, predicted, len(labels))
        onnx_model = export_onnx(
            model,
            (torch.from_numpy(processing.normalize(train_x[:1], state)),),
            [processing.INPUT],
            [processing.OUTPUT],
            {processing.INPUT: {0: "batch"}, processing.OUTPUT: {0: "batch"}},
        )
        card = ModelCard(
            title=self.title,
            intended_use=f"Classify {size}x{size} {params['color_mode']} images into: {', '.join(labels)}.",
            data=f"{len(splits.training)} training, {len(splits.validation)} validation and "
            f"{len(splits.testing)} testing images.",
            metrics=metrics,
            limits="Only the labels seen in training can be predicted; images unlike the training images "
            "(other sizes, styles, backgrounds) may be classified confidently and wrongly.",
            training=describe_fit(fit, context.seed),
        )
        bundle = ModelBundle(
            self.id, self.version, onnx_model, signature, state, metrics, dict(params), card.to_markdown()
        )
        evaluation = classification_evaluation(
            labels,
            truth,
            predicted,
            fit,
            [
                {"key": s.key, "truth": str(s.annotation), **p}
                for s, p in zip(splits.testing, predictions, strict=True)
            ],
        )
        return TrainingResult(bundle, metrics, evaluation, card, stopped=fit.stopped, history=fit.history)


def _common_size(samples: list[Sample]) -> int:
    """The most common longer side among the training images (ties go to the smaller)."""
    import io

    from PIL import Image

    sizes: dict[int, int] = {}
    for sample in samples:
        with Image.open(io.BytesIO(sample.content)) as image:
            side = max(image.size)
        sizes[side] = sizes.get(side, 0) + 1
    return min(sizes, key=lambda side: (-sizes[side], side))


def _shift_by_one(images: Any, generator: Any) -> Any:
    """Shift each image by -1, 0 or +1 pixels in each direction, filling with the background value."""
    import torch

    background = images.amin(dim=(2, 3), keepdim=True)
    padded = torch.nn.functional.pad(images - background, (1, 1, 1, 1)) + background
    offsets = torch.randint(0, 3, (len(images), 2), generator=generator)
    height, width = images.shape[2], images.shape[3]
    shifted = torch.empty_like(images)
    for dy in range(3):
        for dx in range(3):
            chosen = (offsets[:, 0] == dy) & (offsets[:, 1] == dx)
            shifted[chosen] = padded[chosen, :, dy : dy + height, dx : dx + width]
    return shifted
