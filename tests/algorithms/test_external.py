"""Outside ONNX models: bundled with a declared or read signature, checked, served on the raw path."""

from __future__ import annotations

import numpy as np
import pytest

from mlops.algorithms import AlgorithmRegistry, BundleError, ModelBundle, Signature, TensorSpec
from mlops.algorithms.external import EXTERNAL_ALGORITHM_ID, external_bundle, read_signature
from mlops.algorithms.runtime import export_onnx


@pytest.fixture(scope="module")
def onnx_model() -> bytes:
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(dim=1))
    return export_onnx(
        model, (torch.zeros(1, 4),), ["features"], ["scores"], {"features": {0: "n"}, "scores": {0: "n"}}
    )


def test_signature_is_read_with_variable_dims_as_minus_one(onnx_model: bytes) -> None:
    assert read_signature(onnx_model) == Signature(
        inputs=(TensorSpec("features", "FP32", (-1, 4)),), outputs=(TensorSpec("scores", "FP32", (-1, 3)),)
    )


def test_an_outside_model_serves_through_the_registry(onnx_model: bytes) -> None:
    declared = Signature(
        inputs=(TensorSpec("features", "FP32", (-1, 4)),), outputs=(TensorSpec("scores", "FP32", (-1, 3)),)
    )
    bundle = ModelBundle.from_zip(external_bundle(onnx_model, declared).to_zip())
    assert bundle.algorithm_id == EXTERNAL_ALGORITHM_ID
    predictor = AlgorithmRegistry.discover().predictor(bundle, device="cpu")
    result = predictor.predict([{"features": [[1, 2, 3, 4]]}, {"features": [[0, 0, 0, 0], [1, 1, 1, 1]]}])
    assert [len(r["scores"]) for r in result] == [1, 2]
    assert np.isclose(sum(result[0]["scores"][0]), 1.0)
    raw = predictor.run_tensors({"features": np.ones((2, 4), dtype=np.float32)})
    assert raw["scores"].shape == (2, 3)


@pytest.mark.parametrize(
    ("declared", "field"),
    [
        (
            Signature((TensorSpec("x", "FP32", (-1, 4)),), (TensorSpec("scores", "FP32", (-1, 3)),)),
            "signature.inputs",
        ),
        (
            Signature((TensorSpec("features", "INT64", (-1, 4)),), (TensorSpec("scores", "FP32", (-1, 3)),)),
            "features",
        ),
        (
            Signature((TensorSpec("features", "FP32", (-1, 5)),), (TensorSpec("scores", "FP32", (-1, 3)),)),
            "features",
        ),
    ],
)
def test_a_declared_signature_that_does_not_fit_is_refused(
    onnx_model: bytes, declared: Signature, field: str
) -> None:
    with pytest.raises(BundleError) as raised:
        external_bundle(onnx_model, declared)
    assert raised.value.field == field


def test_a_model_this_onnxruntime_cannot_load_is_refused(onnx_model: bytes) -> None:
    import onnx

    proto = onnx.load_from_string(onnx_model)
    proto.ir_version = 14  # what onnx 1.23 writes by default; onnxruntime 1.31 stops at 13
    with pytest.raises(BundleError, match="onnxruntime"):
        external_bundle(proto.SerializeToString())
    with pytest.raises(BundleError, match="not an ONNX model"):
        external_bundle(b"garbage")
