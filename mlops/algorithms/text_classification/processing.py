"""Text classification pre/post-processing: hashed word n-grams, shared by evaluation and serving.

Human-friendly input: a sentence or a message (a string). Hashing uses FNV-1a, never Python's
`hash()`, so token ids are the same in every process and on every machine.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlops.algorithms.bundle import Signature, TensorSpec
from mlops.algorithms.predictor import Predictor, Tensors
from mlops.kernel.errors import InvalidArgument

INPUT = "token_ids"
OUTPUT = "probabilities"
PADDING = 0
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)


def signature(classes: int) -> Signature:
    return Signature(
        inputs=(TensorSpec(INPUT, "INT64", (-1, -1)),),
        outputs=(TensorSpec(OUTPUT, "FP32", (-1, classes)),),
    )


def fnv1a(text: str) -> int:
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def features(text: str, state: dict[str, Any]) -> list[int]:
    """Word n-grams of the text hashed into buckets 1..buckets-1 (0 is padding), at most max_tokens."""
    if not isinstance(text, str):
        raise InvalidArgument("text classification takes a string", field="text")
    words = _WORD.findall(text.lower() if state["lowercase"] else text)
    grams: list[str] = list(words)
    for n in range(2, state["ngrams"] + 1):
        grams += [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    buckets = state["hash_buckets"]
    return [1 + fnv1a(g) % (buckets - 1) for g in grams[: state["max_tokens"]]]


def encode(texts: Sequence[str], state: dict[str, Any]) -> np.ndarray:
    rows = [features(t, state) for t in texts]
    width = max([1, *(len(r) for r in rows)])
    ids = np.full((len(rows), width), PADDING, dtype=np.int64)
    for index, row in enumerate(rows):
        ids[index, : len(row)] = row
    return ids


class TextClassificationPredictor(Predictor):
    def preprocess(self, inputs: Sequence[Any]) -> Tensors:
        return {INPUT: encode(inputs, self.state)}

    def postprocess(self, outputs: Tensors, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        labels: list[str] = self.state["labels"]
        results = []
        for row in outputs[OUTPUT]:
            best = int(np.argmax(row))
            results.append(
                {
                    "label": labels[best],
                    "probability": float(row[best]),
                    "probabilities": {label: float(p) for label, p in zip(labels, row, strict=True)},
                }
            )
        return results
