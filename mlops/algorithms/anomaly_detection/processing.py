"""Anomaly detection pre/post-processing: sliding windows in, a score and flag per point out.

Human-friendly input: a JSON array of recent values, one row per time step with one value per metric
(`[[0.5, 120.0, 3.1], ...]`), a JSON string of it, or `{"values": [...]}`. A single metric may be
given as a flat list.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlops.algorithms.bundle import Signature, TensorSpec
from mlops.algorithms.predictor import Predictor, Tensors
from mlops.kernel.errors import InvalidArgument

INPUT = "windows"
OUTPUT = "errors"


def signature(window: int, metrics: int) -> Signature:
    return Signature(
        inputs=(TensorSpec(INPUT, "FP32", (-1, window, metrics)),),
        outputs=(TensorSpec(OUTPUT, "FP32", (-1, window)),),
    )


def parse_series(value: Any, metrics: int, window: int) -> np.ndarray:
    if isinstance(value, str | bytes):
        value = json.loads(value)
    if isinstance(value, dict):
        value = value.get("values")
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 1 and metrics == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] != metrics:
        raise InvalidArgument(f"expected rows of {metrics} values, one row per time step", field="values")
    if len(array) < window or not np.isfinite(array).all():
        raise InvalidArgument(f"expected at least {window} finite rows", field="values")
    return array


def windows(series: np.ndarray, state: dict[str, Any]) -> np.ndarray:
    """Standardised sliding windows (stride 1) of one series: [len - window + 1, window, metrics]."""
    scaled = (series - np.asarray(state["mean"])) / np.asarray(state["std"])
    view = np.lib.stride_tricks.sliding_window_view(scaled, state["window"], axis=0)
    return np.ascontiguousarray(view.transpose(0, 2, 1), dtype=np.float32)


def point_scores(errors: np.ndarray, length: int) -> np.ndarray:
    """Each point's median reconstruction error over the windows that cover it. The median, unlike the
    mean, does not smear one bad point's error onto its neighbours."""
    window = errors.shape[1]
    table = np.full((length, window), np.nan)
    for offset in range(window):
        table[offset : offset + len(errors), offset] = errors[:, offset]
    return np.nanmedian(table, axis=1)


class AnomalyDetectionPredictor(Predictor):
    def _series(self, inputs: Sequence[Any]) -> list[np.ndarray]:
        return [parse_series(v, len(self.state["metrics"]), self.state["window"]) for v in inputs]

    def preprocess(self, inputs: Sequence[Any]) -> Tensors:
        parts = [windows(s, self.state) for s in self._series(inputs)]
        shape = (0, self.state["window"], len(self.state["metrics"]))
        return {INPUT: np.concatenate(parts) if parts else np.zeros(shape, dtype=np.float32)}

    def postprocess(self, outputs: Tensors, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        threshold = float(self.state["threshold"])
        results, start = [], 0
        for series in self._series(inputs):
            count = len(series) - self.state["window"] + 1
            scores = point_scores(outputs[OUTPUT][start : start + count].astype(np.float64), len(series))
            start += count
            results.append(
                {
                    "scores": [round(float(s), 6) for s in scores],
                    "flags": [bool(s > threshold) for s in scores],
                    "threshold": threshold,
                    "metrics": self.state["metrics"],
                }
            )
        return results
