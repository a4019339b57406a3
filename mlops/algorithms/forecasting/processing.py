"""Forecasting pre/post-processing: recent values in, a forecast with an interval out.

Human-friendly input: a JSON array of recent values (oldest first), a JSON string of it, or
`{"values": [...]}`; only the last `lookback` values are used.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlops.algorithms.bundle import Signature, TensorSpec
from mlops.algorithms.predictor import Predictor, Tensors
from mlops.kernel.errors import InvalidArgument

INPUT = "history"
OUTPUT = "forecast"


def signature(lookback: int, horizon: int) -> Signature:
    return Signature(
        inputs=(TensorSpec(INPUT, "FP32", (-1, lookback)),),
        outputs=(TensorSpec(OUTPUT, "FP32", (-1, horizon)),),
    )


def parse_values(value: Any, lookback: int) -> np.ndarray:
    if isinstance(value, str | bytes):
        value = json.loads(value)
    if isinstance(value, dict):
        value = value.get("values")
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 1 or len(array) < lookback or not np.isfinite(array).all():
        raise InvalidArgument(f"expected a list of at least {lookback} finite numbers", field="values")
    return array[-lookback:]


def scale(history: np.ndarray, state: dict[str, Any]) -> np.ndarray:
    return ((history - state["mean"]) / state["scale"]).astype(np.float32)


class ForecastingPredictor(Predictor):
    def preprocess(self, inputs: Sequence[Any]) -> Tensors:
        lookback = self.state["lookback"]
        rows = [scale(parse_values(v, lookback), self.state) for v in inputs]
        return {INPUT: np.stack(rows) if rows else np.zeros((0, lookback), dtype=np.float32)}

    def postprocess(self, outputs: Tensors, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        width = np.asarray(self.state["interval_width"])
        results = []
        for row in outputs[OUTPUT].astype(np.float64):
            forecast = row * self.state["scale"] + self.state["mean"]
            results.append({
                "forecast": [round(float(v), 6) for v in forecast],
                "lower": [round(float(v), 6) for v in forecast - width],
                "upper": [round(float(v), 6) for v in forecast + width],
                "interval": self.state["interval"],
            })  # fmt: skip
        return results
