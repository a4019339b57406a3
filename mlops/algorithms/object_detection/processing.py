"""Object detection pre/post-processing: one code path for evaluation and serving.

Human-friendly input: an image (bytes, base64 or a pixel array, as for image classification). The
result lists boxes in the input image's own pixel coordinates, with labels and scores.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlops.algorithms.bundle import Signature, TensorSpec
from mlops.algorithms.image_classification.processing import decode_image, normalize
from mlops.algorithms.metrics import box_iou
from mlops.algorithms.predictor import Predictor, Tensors

INPUT = "image"
OUTPUTS = ("boxes", "scores", "labels")


def signature(size: int, detections: int) -> Signature:
    return Signature(
        inputs=(TensorSpec(INPUT, "FP32", (-1, 3, size, size)),),
        outputs=(
            TensorSpec("boxes", "FP32", (-1, detections, 4)),
            TensorSpec("scores", "FP32", (-1, detections)),
            TensorSpec("labels", "INT64", (-1, detections)),
        ),
    )


def original_size(value: Any) -> tuple[int, int]:
    """Width and height of the image as the user sent it."""
    from PIL import Image

    if isinstance(value, bytes | bytearray):
        with Image.open(io.BytesIO(value)) as image:
            return image.size
    if isinstance(value, str):
        import base64

        encoded = value.split(",", 1)[1] if value.startswith("data:") else value
        return original_size(base64.b64decode(encoded))
    pixels = np.asarray(value)
    return int(pixels.shape[1]), int(pixels.shape[0])


def non_maximum_suppression(
    boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, threshold: float
) -> list[int]:
    """Class-wise greedy NMS after the heat-map peak picking, for overlapping peaks of one object."""
    order = np.argsort(-scores, kind="stable")
    kept: list[int] = []
    for index in order:
        same = [k for k in kept if labels[k] == labels[index]]
        if not same or box_iou(boxes[index], boxes[same]).max() <= threshold:
            kept.append(int(index))
    return kept


class ObjectDetectionPredictor(Predictor):
    def preprocess(self, inputs: Sequence[Any]) -> Tensors:
        size = self.state["image_size"]
        images = [decode_image(v, 3, size) for v in inputs]
        batch = np.stack(images) if images else np.zeros((0, 3, size, size), dtype=np.float32)
        return {INPUT: normalize(batch, self.state)}

    def postprocess(self, outputs: Tensors, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        labels_names: list[str] = self.state["labels"]
        size = self.state["image_size"]
        results = []
        for value, boxes, scores, labels in zip(
            inputs, outputs["boxes"], outputs["scores"], outputs["labels"], strict=True
        ):
            width, height = original_size(value)
            keep = scores >= self.state["score_threshold"]
            boxes, scores, labels = boxes[keep].astype(np.float64), scores[keep], labels[keep]
            kept = non_maximum_suppression(boxes, scores, labels, self.state["nms_iou"])
            scale = np.asarray([width / size, height / size, width / size, height / size])
            detections = [
                {
                    "label": labels_names[int(labels[i])],
                    "score": float(scores[i]),
                    "box": [float(v) for v in np.clip(boxes[i] * scale, 0, [width, height] * 2)],
                }
                for i in kept
            ]
            results.append({"detections": detections, "image_size": [width, height]})
        return results
