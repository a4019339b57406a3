"""Inference around a model: the pre/post-processing written once for evaluation and serving.

A `Predictor` turns human-friendly inputs into tensors (`preprocess`), runs a backend, and turns the
outputs into structured results (`postprocess`). The trainer evaluates with a `TorchBackend` over the
model it just trained; serving uses an `OnnxBackend` over the bundle's ONNX file. Both go through the
same `Predictor` methods, which is what the parity tests check.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from mlops.algorithms.bundle import BundleError, Signature
from mlops.algorithms.runtime import onnx_session

if TYPE_CHECKING:
    import torch

Tensors = dict[str, np.ndarray]


class Backend(Protocol):
    """Runs named input tensors through a model and returns named output tensors."""

    def run(self, inputs: Tensors) -> Tensors: ...


class OnnxBackend:
    def __init__(
        self, model: bytes, signature: Signature, *, device: str = "auto", threads: int | None = None
    ):
        self.session = onnx_session(model, device=device, threads=threads)
        self.output_names = [t.name for t in signature.outputs]
        declared = {t.name for t in signature.inputs}
        actual = {i.name for i in self.session.get_inputs()}
        if declared != actual:
            raise BundleError(f"signature inputs {sorted(declared)} differ from the model's {sorted(actual)}")

    def run(self, inputs: Tensors) -> Tensors:
        outputs = self.session.run(self.output_names, inputs)
        return dict(zip(self.output_names, outputs, strict=True))


class TorchBackend:
    """The trainer's side: the same tensors through the PyTorch module the ONNX file is exported from.

    The module takes the inputs positionally in signature order and returns outputs in signature order."""

    def __init__(self, module: torch.nn.Module, signature: Signature, device: torch.device):
        self.module = module
        self.signature = signature
        self.device = device

    def run(self, inputs: Tensors) -> Tensors:
        import torch

        self.module.eval()
        with torch.no_grad():
            args = [
                torch.from_numpy(np.ascontiguousarray(inputs[t.name])).to(self.device)
                for t in self.signature.inputs
            ]
            result = self.module(*args)
        if not isinstance(result, tuple):
            result = (result,)
        return {t.name: r.detach().cpu().numpy() for t, r in zip(self.signature.outputs, result, strict=True)}


class Predictor(ABC):
    """Subclasses implement `preprocess` and `postprocess` from the bundle's preprocessing state."""

    def __init__(self, signature: Signature, preprocessing: dict[str, Any], backend: Backend):
        self.signature = signature
        self.state = preprocessing
        self.backend = backend

    @abstractmethod
    def preprocess(self, inputs: Sequence[Any]) -> Tensors:
        """Human-friendly inputs (sentences, images, JSON arrays...) to a batch of input tensors."""

    @abstractmethod
    def postprocess(self, outputs: Tensors, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        """Output tensors to one structured, JSON-compatible result per input."""

    def run_tensors(self, inputs: Tensors) -> Tensors:
        """The raw tensor path (KServe V2 requests that already carry tensors)."""
        return self.backend.run(inputs)

    def predict(self, inputs: Sequence[Any], batch_size: int = 256) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        for start in range(0, len(inputs), batch_size):
            batch = inputs[start : start + batch_size]
            results.extend(self.postprocess(self.run_tensors(self.preprocess(batch)), batch))
        return results

    def predict_one(self, value: Any) -> dict[str, Any]:
        return self.predict([value])[0]
