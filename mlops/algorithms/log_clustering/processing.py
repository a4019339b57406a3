"""Log clustering pre/post-processing: masking of variable fields, token hashing, and the template and
examples of the cluster ONNX assigns. Human-friendly input: one log line per input."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlops.algorithms.bundle import Signature, TensorSpec
from mlops.algorithms.predictor import Predictor, Tensors
from mlops.algorithms.text_classification.processing import fnv1a
from mlops.kernel.errors import InvalidArgument

INPUT = "token_ids"
OUTPUTS = ("cluster", "probability")
SLOT = "<*>"
_EDGE = "^"

# Order matters: the most specific patterns first, so an IP is not masked as numbers.
_MASKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("<TIME>", re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?\b")),
    (
        "<UUID>",
        re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
    ),
    ("<IP>", re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b")),
    ("<EMAIL>", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("<URL>", re.compile(r"\bhttps?://\S+")),
    ("<PATH>", re.compile(r"(?<![\w/])(?:/[\w.-]+)+/?")),
    (
        "<HEX>",
        re.compile(r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{6,}\b"),
    ),
    ("<NUM>", re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:ms|s|kb|mb|gb|%)?(?![\w.])", re.IGNORECASE)),
)
_TOKEN = re.compile(r"<[A-Z]+>|[^\s=:,;\[\]()\"']+")


def signature() -> Signature:
    return Signature(
        inputs=(TensorSpec(INPUT, "INT64", (-1, -1)),),
        outputs=(TensorSpec(OUTPUTS[0], "INT64", (-1,)), TensorSpec(OUTPUTS[1], "FP32", (-1,))),
    )


def mask(line: str) -> str:
    for placeholder, pattern in _MASKS:
        line = pattern.sub(placeholder, line)
    return line


def tokens(line: str) -> list[str]:
    if not isinstance(line, str):
        raise InvalidArgument("log clustering takes one log line (a string) per input", field="line")
    return _TOKEN.findall(mask(line.strip()))


def context(words: list[str], index: int) -> str:
    previous = words[index - 1] if index > 0 else _EDGE
    following = words[index + 1] if index + 1 < len(words) else _EDGE
    return f"{previous} {following}"


def find_slots(lines: list[list[str]], min_variants: int) -> list[str]:
    """Contexts (previous and next token) in which at least `min_variants` different words appear:
    there the word is a variable field (a user, a host, a version) the regular masks did not catch."""
    fillers: dict[str, set[str]] = {}
    for words in lines:
        for index, word in enumerate(words):
            if not (word.startswith("<") and word.endswith(">")):
                fillers.setdefault(context(words, index), set()).add(word)
    return sorted(c for c, seen in fillers.items() if len(seen) >= min_variants)


def fill_slots(words: list[str], slots: set[str]) -> list[str]:
    return [SLOT if context(words, i) in slots else word for i, word in enumerate(words)]


def template(line: str, state: dict[str, Any]) -> list[str]:
    """The line with masks and every learned round of slot rules applied."""
    words = tokens(line)
    for round_slots in state["slot_rounds"]:
        words = fill_slots(words, set(round_slots))
    return words


def encode(lines: Sequence[str], state: dict[str, Any]) -> np.ndarray:
    buckets, limit = state["hash_buckets"], state["max_tokens"]
    rows = []
    for line in lines:
        words = template(line, state)
        # Unigrams plus neighbour pairs: pairs tell apart templates that share words.
        grams = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
        rows.append([1 + fnv1a(g) % (buckets - 1) for g in grams[:limit]])
    width = max([1, *(len(r) for r in rows)])
    ids = np.zeros((len(rows), width), dtype=np.int64)
    for index, row in enumerate(rows):
        ids[index, : len(row)] = row
    return ids


class LogClusteringPredictor(Predictor):
    def preprocess(self, inputs: Sequence[Any]) -> Tensors:
        return {INPUT: encode(inputs, self.state)}

    def postprocess(self, outputs: Tensors, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        results = []
        for line, cluster, probability in zip(
            inputs, outputs["cluster"], outputs["probability"], strict=True
        ):
            info = self.state["clusters"][int(cluster)]
            own = " ".join(template(line, self.state))
            results.append(
                {
                    "cluster": int(cluster),
                    "template": info["template"],
                    "probability": float(probability),
                    # A line whose own template was never seen in training is a new kind of line.
                    "novel": own not in self.state["known_templates"],
                    "examples": info["examples"],
                }
            )
        return results
