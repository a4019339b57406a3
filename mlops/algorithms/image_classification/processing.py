"""Image classification pre/post-processing: the one code path for evaluation and serving.

Human-friendly input: image bytes (PNG, JPEG...), a base64 string (optionally a data: URL), or a
nested list of pixel values 0-255 (rows of grey values, or rows of [r, g, b]).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlops.algorithms.bundle import Signature, TensorSpec
from mlops.algorithms.predictor import Predictor, Tensors
from mlops.kernel.errors import InvalidArgument

INPUT = "image"
OUTPUT = "probabilities"


def signature(channels: int, size: int, classes: int) -> Signature:
    return Signature(
        inputs=(TensorSpec(INPUT, "FP32", (-1, channels, size, size)),),
        outputs=(TensorSpec(OUTPUT, "FP32", (-1, classes)),),
    )


def decode_image(value: Any, channels: int, size: int) -> np.ndarray:
    """Any supported image form to float32 [channels, size, size] with values in [0, 1]."""
    from PIL import Image

    image: Image.Image
    if isinstance(value, str):
        encoded = value.split(",", 1)[1] if value.startswith("data:") else value
        value = base64.b64decode(encoded, validate=True)
    if isinstance(value, bytes | bytearray):
        try:
            image = Image.open(io.BytesIO(value))
            image.load()
        except Exception as error:
            raise InvalidArgument(f"not a readable image: {error}", field="image") from None
    else:
        pixels = np.asarray(value, dtype=np.float64)
        if pixels.ndim not in (2, 3) or pixels.min() < 0 or pixels.max() > 255:
            raise InvalidArgument("pixel arrays are rows of values 0-255 (or of [r, g, b])", field="image")
        image = Image.fromarray(np.rint(pixels).astype(np.uint8))
    image = image.convert("L" if channels == 1 else "RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.float32) / 255.0
    return array[None, :, :] if channels == 1 else array.transpose(2, 0, 1)


def encode_png(pixels: np.ndarray) -> bytes:
    """uint8 grey [H, W] or RGB [H, W, 3] to PNG bytes, deterministically (no timestamps)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def normalize(images: np.ndarray, state: dict[str, Any]) -> np.ndarray:
    mean = np.asarray(state["mean"], dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(state["std"], dtype=np.float32).reshape(1, -1, 1, 1)
    return ((images - mean) / std).astype(np.float32)


class ImageClassificationPredictor(Predictor):
    def preprocess(self, inputs: Sequence[Any]) -> Tensors:
        channels, size = self.state["channels"], self.state["image_size"]
        images = (
            np.stack([decode_image(v, channels, size) for v in inputs])
            if inputs
            else np.zeros((0, channels, size, size), dtype=np.float32)
        )
        return {INPUT: normalize(images, self.state)}

    def postprocess(self, outputs: Tensors, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        labels: list[str] = self.state["labels"]
        top_k = min(int(self.state.get("top_k", 3)), len(labels))
        results = []
        for row in outputs[OUTPUT]:
            # A stable sort keeps ties in label order, so both backends rank equal scores alike.
            ranked = np.argsort(-row, kind="stable")[:top_k]
            top = [{"label": labels[i], "probability": float(row[i])} for i in ranked]
            results.append({"label": top[0]["label"], "probability": top[0]["probability"], "top_k": top})
        return results
