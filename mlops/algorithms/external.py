"""Outside models: an ONNX file with a declared (or read) signature becomes a bundle without a trainer.

Such a bundle has no pre/post-processing; it serves the raw tensor path, and its human-friendly input
is a JSON object of named tensors as nested lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlops.algorithms.bundle import BundleError, ModelBundle, Signature, TensorSpec
from mlops.algorithms.predictor import OnnxBackend, Predictor, Tensors

EXTERNAL_ALGORITHM_ID = "external-onnx"
EXTERNAL_ALGORITHM_VERSION = "1"

# onnx TensorProto element types -> KServe V2 datatypes, and KServe V2 -> numpy.
_ONNX_TO_KSERVE = {
    1: "FP32",
    2: "UINT8",
    3: "INT8",
    4: "UINT16",
    5: "INT16",
    6: "INT32",
    7: "INT64",
    8: "BYTES",
    9: "BOOL",
    10: "FP16",
    11: "FP64",
    12: "UINT32",
    13: "UINT64",
}
KSERVE_TO_NUMPY = {
    "FP32": np.float32,
    "UINT8": np.uint8,
    "INT8": np.int8,
    "UINT16": np.uint16,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "BYTES": np.object_,
    "BOOL": np.bool_,
    "FP16": np.float16,
    "FP64": np.float64,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
}


def read_signature(onnx_model: bytes) -> Signature:
    """The signature an ONNX graph declares; symbolic or unknown dimensions become -1."""
    import onnx

    try:
        graph = onnx.load_from_string(onnx_model).graph
    except Exception as error:
        raise BundleError(f"not an ONNX model: {error}", field="model") from None
    initializers = {i.name for i in graph.initializer}

    def spec(value: Any) -> TensorSpec:
        tensor = value.type.tensor_type
        if tensor.elem_type not in _ONNX_TO_KSERVE:
            raise BundleError(f"unsupported element type {tensor.elem_type}", field=value.name)
        dims = tuple(
            d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1 for d in tensor.shape.dim
        )
        return TensorSpec(value.name, _ONNX_TO_KSERVE[tensor.elem_type], dims)

    return Signature(
        inputs=tuple(spec(v) for v in graph.input if v.name not in initializers),
        outputs=tuple(spec(v) for v in graph.output),
    )


def external_bundle(
    onnx_model: bytes,
    signature: Signature | None = None,
    *,
    metrics: dict[str, float] | None = None,
    model_card: str = "",
) -> ModelBundle:
    """Check an outside ONNX model against its declared signature (or read one) and bundle it. The model
    must load in this onnxruntime, which is what serving will run."""
    found = read_signature(onnx_model)
    if signature is not None:
        _check_matches(signature, found)
    bundle = ModelBundle(
        EXTERNAL_ALGORITHM_ID,
        EXTERNAL_ALGORITHM_VERSION,
        onnx_model,
        signature or found,
        preprocessing={},
        metrics=metrics or {},
        model_card=model_card,
    )
    try:
        OnnxBackend(onnx_model, bundle.signature, device="cpu")
    except BundleError:
        raise
    except Exception as error:
        raise BundleError(f"onnxruntime cannot load the model: {error}", field="model") from None
    return bundle


def _check_matches(declared: Signature, found: Signature) -> None:
    for kind, wanted, actual in (
        ("input", declared.inputs, found.inputs),
        ("output", declared.outputs, found.outputs),
    ):
        by_name = {t.name: t for t in actual}
        if {t.name for t in wanted} != set(by_name):
            raise BundleError(
                f"declared {kind}s {[t.name for t in wanted]} differ from the model's {sorted(by_name)}",
                field=f"signature.{kind}s",
            )
        for spec in wanted:
            model = by_name[spec.name]
            if spec.datatype != model.datatype:
                raise BundleError(
                    f"datatype {spec.datatype} but the model has {model.datatype}", field=spec.name
                )
            if len(spec.shape) != len(model.shape) or any(
                m != -1 and d != m for d, m in zip(spec.shape, model.shape, strict=True)
            ):
                raise BundleError(
                    f"shape {list(spec.shape)} does not fit the model's {list(model.shape)}", field=spec.name
                )


class ExternalPredictor(Predictor):
    """Inputs are {tensor name: nested list}; results are {output name: nested list}."""

    def preprocess(self, inputs: Sequence[Any]) -> Tensors:
        tensors: Tensors = {}
        for spec in self.signature.inputs:
            dtype = KSERVE_TO_NUMPY[spec.datatype]
            tensors[spec.name] = np.concatenate([np.asarray(v[spec.name], dtype=dtype) for v in inputs])
        return tensors

    def postprocess(self, outputs: Tensors, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        start = 0
        for value in inputs:
            count = len(value[self.signature.inputs[0].name])
            results.append({name: array[start : start + count].tolist() for name, array in outputs.items()})
            start += count
        return results


def external_predictor(bundle: ModelBundle, *, device: str = "auto") -> ExternalPredictor:
    return ExternalPredictor(
        bundle.signature,
        bundle.preprocessing,
        OnnxBackend(bundle.onnx_model, bundle.signature, device=device),
    )
