"""Object detection: a compact CenterNet-style detector with peak-picking NMS, served as ONNX."""

from __future__ import annotations

import copy
import io
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlops.algorithms import schema
from mlops.algorithms.base import (
    Algorithm,
    DatasetFormat,
    ModelCard,
    Progress,
    QualityBar,
    Sample,
    Scenario,
    TrainingContext,
    TrainingResult,
)
from mlops.algorithms.bundle import ModelBundle
from mlops.algorithms.image_classification.processing import decode_image, normalize
from mlops.algorithms.metrics import mean_average_precision
from mlops.algorithms.object_detection import processing
from mlops.algorithms.object_detection.demo import shapes_scenes
from mlops.algorithms.predictor import OnnxBackend, TorchBackend
from mlops.algorithms.runtime import export_onnx, resolve_device, seed_everything, torch_generator
from mlops.kernel.errors import InvalidArgument

_BOX_SCHEMA = {
    "type": "object",
    "required": ["label", "box"],
    "properties": {
        "label": {"type": "string"},
        "box": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
    },
}


class ObjectDetection(Algorithm):
    id = "object-detection-centernet"
    version = "1.0.0"
    scenario = Scenario.OBJECT_DETECTION
    title = "Object detection (compact CenterNet)"
    description = "Finds objects as heat-map peaks and regresses their boxes; anchor-free, with NMS."
    dataset_format = DatasetFormat(
        media_types=("image/png", "image/jpeg"),
        annotation="{'objects': [{'label': name, 'box': [x0, y0, x1, y1] in pixels}]}",
        annotation_schema={
            "type": "object",
            "required": ["objects"],
            "properties": {"objects": {"type": "array", "items": _BOX_SCHEMA}},
        },
        notes="Images are resized to a square of image_size pixels; boxes come back in the original pixels.",
    )
    quality_bars = (QualityBar("map_50", minimum=0.70),)

    def parameter_schema(self) -> dict[str, Any]:
        return schema.form(
            "Object detection",
            {
                "image_size": schema.choice(
                    "Image size", 64, [32, 64, 96, 128], "Square input side in pixels.", group="data"
                ),
                "epochs": schema.integer(
                    "Epochs", 20, 1, 300, "Passes over the training images.", group="training"
                ),
                "batch_size": schema.choice(
                    "Batch size", 32, [8, 16, 32, 64], "Images per step.", group="training"
                ),
                "learning_rate": schema.number(
                    "Learning rate",
                    0.003,
                    0.00001,
                    0.1,
                    "Peak learning rate.",
                    group="training",
                    widget="log-slider",
                ),
                "width": schema.choice(
                    "Width", 32, [16, 32, 48, 64], "Channels of the backbone.", group="model"
                ),
                "max_detections": schema.integer(
                    "Max detections", 20, 1, 100, "Peaks decoded per image.", group="output", widget="number"
                ),
                "score_threshold": schema.number(
                    "Score threshold",
                    0.1,
                    0.0,
                    1.0,
                    "Detections below this score are dropped.",
                    group="output",
                ),
                "nms_iou": schema.number(
                    "NMS IoU",
                    0.5,
                    0.05,
                    1.0,
                    "Overlap above which a weaker box of the same label is dropped.",
                    group="output",
                ),
            },
        )

    def presets(self) -> dict[str, dict[str, Any]]:
        return {"quick": {"epochs": 2, "width": 16}, "default": {}}

    def example_input(self) -> Any:
        return shapes_scenes(scenes=1)[0].content

    def demo_dataset(self, seed: int = 0) -> list[Sample]:
        return shapes_scenes(seed)

    def predictor(self, bundle: ModelBundle, *, device: str = "auto") -> processing.ObjectDetectionPredictor:
        backend = OnnxBackend(bundle.onnx_model, bundle.signature, device=device)
        return processing.ObjectDetectionPredictor(bundle.signature, bundle.preprocessing, backend)

    def train(
        self, samples: Sequence[Sample], params: dict[str, Any], context: TrainingContext
    ) -> TrainingResult:
        from mlops.algorithms.object_detection.model import CenterNet

        seed_everything(context.seed)
        device = resolve_device(context.device)
        splits = self.read_dataset(samples)
        if not splits.training or not splits.testing:
            raise InvalidArgument("needs images labelled training and testing", field="dataset")
        labels = sorted({o["label"] for s in samples for o in _objects(s)})
        size = params["image_size"]
        state: dict[str, Any] = {
            "labels": labels,
            "image_size": size,
            "channels": 3,
            "mean": [0.0] * 3,
            "std": [1.0] * 3,
            "score_threshold": params["score_threshold"],
            "nms_iou": params["nms_iou"],
        }
        raw = np.stack([decode_image(s.content, 3, size) for s in splits.training])
        state["mean"] = [float(v) for v in raw.mean(axis=(0, 2, 3))]
        state["std"] = [max(float(v), 1e-6) for v in raw.std(axis=(0, 2, 3))]
        train = _tensors(splits.training, state, labels)
        validation = _tensors(splits.validation or splits.training[:64], state, labels)
        model = CenterNet(len(labels), params["width"], params["max_detections"]).to(device)
        started = time.monotonic()
        history, stopped = _fit(model, train, validation, params, context, device)
        seconds = time.monotonic() - started
        signature = processing.signature(size, params["max_detections"])
        evaluator = processing.ObjectDetectionPredictor(
            signature, state, TorchBackend(model, signature, device)
        )
        predictions = evaluator.predict([s.content for s in splits.testing])
        truth = [[(o["label"], o["box"]) for o in _objects(s)] for s in splits.testing]
        found = [[(d["label"], d["score"], d["box"]) for d in p["detections"]] for p in predictions]
        metrics = mean_average_precision(truth, found, labels)
        onnx_model = export_onnx(
            model,
            (train[0][:1],),
            [processing.INPUT],
            list(processing.OUTPUTS),
            {processing.INPUT: {0: "batch"}, **{name: {0: "batch"} for name in processing.OUTPUTS}},
        )
        card = ModelCard(
            title=self.title,
            intended_use=f"Find and box objects of the kinds: {', '.join(labels)}.",
            data=f"{len(splits.training)} training, {len(splits.validation)} validation and "
            f"{len(splits.testing)} testing images.",
            metrics=metrics,
            limits=f"Works at {size}x{size} pixels: objects smaller than about {size // 16} pixels after "
            "resizing are missed; heavily overlapping objects of one kind may merge.",
            training=f"{len(history)} epochs, seed {context.seed}.",
        )
        bundle = ModelBundle(
            self.id, self.version, onnx_model, signature, state, metrics, dict(params), card.to_markdown()
        )
        evaluation = {
            "history": [{"epoch": p.epoch, **p.metrics} for p in history],
            "training_seconds": seconds,
            "predictions": [{"key": s.key, **p} for s, p in zip(splits.testing, predictions, strict=True)],
        }
        return TrainingResult(bundle, metrics, evaluation, card, stopped=stopped, history=history)


def _objects(sample: Sample) -> list[dict[str, Any]]:
    annotation = sample.annotation if isinstance(sample.annotation, dict) else {}
    return list(annotation.get("objects", []))


def _tensors(samples: list[Sample], state: dict[str, Any], labels: list[str]) -> tuple[Any, Any, Any, Any]:
    """Images plus CenterNet targets: Gaussian heat-maps per class, and offset/log-size at each centre."""
    import torch
    from PIL import Image

    from mlops.algorithms.object_detection.model import STRIDE

    size = state["image_size"]
    grid = size // STRIDE
    images = normalize(np.stack([decode_image(s.content, 3, size) for s in samples]), state)
    heat = np.zeros((len(samples), len(labels), grid, grid), dtype=np.float32)
    regression = np.zeros((len(samples), 4, grid, grid), dtype=np.float32)
    mask = np.zeros((len(samples), grid, grid), dtype=np.float32)
    ys, xs = np.mgrid[0:grid, 0:grid]
    for n, sample in enumerate(samples):
        with Image.open(io.BytesIO(sample.content)) as image:
            width, height = image.size
        for obj in _objects(sample):
            x0, y0, x1, y1 = obj["box"]
            x0, x1 = x0 * size / width / STRIDE, x1 * size / width / STRIDE
            y0, y1 = y0 * size / height / STRIDE, y1 * size / height / STRIDE
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            ix, iy = min(int(cx), grid - 1), min(int(cy), grid - 1)
            sigma = max(0.5, min(x1 - x0, y1 - y0) / 6)
            gaussian = np.exp(-((xs - ix) ** 2 + (ys - iy) ** 2) / (2 * sigma**2))
            channel = labels.index(obj["label"])
            heat[n, channel] = np.maximum(heat[n, channel], gaussian)
            regression[n, :, iy, ix] = [
                cx - ix,
                cy - iy,
                np.log(max(x1 - x0, 1e-3)),
                np.log(max(y1 - y0, 1e-3)),
            ]
            mask[n, iy, ix] = 1.0
    return (
        torch.from_numpy(images),
        torch.from_numpy(heat),
        torch.from_numpy(regression),
        torch.from_numpy(mask),
    )


def _loss(model: Any, batch: tuple[Any, ...]) -> Any:
    import torch

    images, heat, regression, mask = batch
    logits, predicted = model.raw(images)
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    positive = (heat >= 1.0 - 1e-6).to(p.dtype)
    # CenterNet's focal loss: negatives near a centre are penalised less.
    focal = -(
        positive * (1 - p) ** 2 * torch.log(p) + (1 - positive) * (1 - heat) ** 4 * p**2 * torch.log(1 - p)
    )
    count = positive.sum().clamp(min=1.0)
    weights = torch.tensor([1.0, 1.0, 0.5, 0.5], device=images.device).view(1, 4, 1, 1)
    box = (torch.abs(predicted - regression) * weights * mask.unsqueeze(1)).sum()
    return focal.sum() / count + box / count


def _fit(
    model: Any,
    train: tuple[Any, ...],
    validation: tuple[Any, ...],
    params: dict[str, Any],
    context: TrainingContext,
    device: Any,
) -> tuple[list[Progress], bool]:
    import torch

    generator = torch_generator(context.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=params["learning_rate"], weight_decay=1e-4)
    steps_per_epoch = -(-len(train[0]) // params["batch_size"])
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=params["learning_rate"], total_steps=params["epochs"] * steps_per_epoch
    )
    history: list[Progress] = []
    best, best_loss, step = copy.deepcopy(model.state_dict()), float("inf"), 0
    for epoch in range(1, params["epochs"] + 1):
        model.train()
        order = torch.randperm(len(train[0]), generator=generator)
        total = 0.0
        for start in range(0, len(order), params["batch_size"]):
            if context.should_stop():
                model.load_state_dict(best)
                model.eval()
                return history, True
            index = order[start : start + params["batch_size"]]
            loss = _loss(model, tuple(t[index].to(device) for t in train))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(index)
            step += 1
        model.eval()
        with torch.no_grad():
            val_loss = float(_loss(model, tuple(t.to(device) for t in validation)))
        progress = Progress(
            epoch, step, {"train_loss": total / len(train[0]), "val_loss": val_loss}, params["epochs"]
        )
        history.append(progress)
        context.callback(progress)
        if val_loss < best_loss:
            best_loss, best = val_loss, copy.deepcopy(model.state_dict())
    model.load_state_dict(best)
    model.eval()
    return history, False
