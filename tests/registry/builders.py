"""Small ONNX models and domain objects for the registry's tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mlops.algorithms.bundle import Signature, TensorSpec
from services.registry.domain import Bundle, Lineage, Model, ModelVersion, Stage

# onnxruntime here accepts IR versions up to 13 (docs: ENVIRONMENT.md).
IR_VERSION = 10
OPSET = 17


def tiny_onnx(*, width: int = 3, input_name: str = "x", output_name: str = "y") -> bytes:
    """y = x + 1 over a (batch, width) FP32 input."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    one = numpy_helper.from_array(np.ones((width,), dtype=np.float32), name="one")
    graph = helper.make_graph(
        [helper.make_node("Add", [input_name, "one"], [output_name])],
        "tiny",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", width])],
        initializer=[one],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    return bytes(model.SerializeToString())


def external_data_onnx(location: str) -> bytes:
    """A model whose initializer claims to live in an outside file."""
    import onnx

    model = onnx.load_from_string(tiny_onnx())
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    return bytes(model.SerializeToString())


def tiny_signature(width: int = 3, *, input_name: str = "x", datatype: str = "FP32") -> Signature:
    return Signature(
        inputs=(TensorSpec(input_name, datatype, (-1, width)),),
        outputs=(TensorSpec("y", "FP32", (-1, width)),),
    )


def model(name: str = "churn", **overrides: Any) -> Model:
    base = Model.create(name, owner="sam", scenario="anomaly_detection")
    return base if not overrides else Model(**{**base.__dict__, **overrides})


def version(number: int = 1, *, stage: Stage = Stage.NONE, **overrides: Any) -> ModelVersion:
    values: dict[str, Any] = {
        "model_id": "m" * 32,
        "model_name": "churn",
        "number": number,
        "stage": stage,
        "bundle": Bundle(uri="s3://b/blobs/x", sha256="a" * 64),
        "signature": {},
        "algorithm_id": "anomaly_detection",
        "algorithm_version": "1",
        "lineage": Lineage(
            run_id=f"run-{number}", dataset_id="ds1", dataset_version=1, manifest_digest="d" * 64
        ),
        "code_version": {"package_version": "0.1.0"},
        "parameters": {"epochs": 5, "lr": 0.01},
        "metrics": {"macro_f1": 0.9},
        "registered_by": "sam",
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    values.update(overrides)
    return ModelVersion(**values)
