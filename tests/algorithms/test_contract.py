"""The contract itself: bundles, parameter validation, discovery, splits, devices."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

from mlops.algorithms import (
    ENTRY_POINT_GROUP,
    AlgorithmRegistry,
    BundleError,
    ModelBundle,
    ParameterError,
    Purpose,
    Sample,
    Signature,
    TensorSpec,
    split_by_purpose,
)
from mlops.algorithms.runtime import onnx_providers, resolve_device
from mlops.kernel.errors import InvalidArgument, NotFound


def _bundle(onnx_model: bytes = b"not really onnx") -> ModelBundle:
    signature = Signature(
        inputs=(TensorSpec("x", "FP32", (-1, 4)),), outputs=(TensorSpec("y", "FP32", (-1, 2)),)
    )
    return ModelBundle("demo", "1.0.0", onnx_model, signature, {"labels": ["a", "b"]}, {"accuracy": 0.5})


def test_bundle_round_trips_through_a_directory_and_a_zip(tmp_path: Path) -> None:
    bundle = _bundle()
    assert ModelBundle.load(bundle.save(tmp_path / "bundle")) == bundle
    (tmp_path / "bundle.zip").write_bytes(bundle.to_zip())
    assert ModelBundle.load(tmp_path / "bundle.zip") == bundle
    assert sorted(zipfile.ZipFile(tmp_path / "bundle.zip").namelist()) == [
        "bundle.json", "model.onnx", "model_card.md", "preprocessing.json", "signature.json",
    ]  # fmt: skip


def test_bundle_zip_is_byte_identical_for_identical_contents() -> None:
    assert _bundle().to_zip() == _bundle().to_zip()


def test_bundle_refuses_an_onnx_file_that_does_not_match_its_manifest() -> None:
    files = _bundle().files()
    files["model.onnx"] = b"tampered"
    with pytest.raises(BundleError, match="SHA-256"):
        ModelBundle.from_files(files)


def test_tensor_spec_takes_kserve_datatypes_and_minus_one_for_variable_dims() -> None:
    assert TensorSpec("x", "INT64", (-1, -1)).to_json() == {
        "name": "x",
        "datatype": "INT64",
        "shape": [-1, -1],
    }
    with pytest.raises(BundleError):
        TensorSpec("x", "float32", (1,))
    with pytest.raises(BundleError):
        TensorSpec("x", "FP32", (0,))


def test_validation_fills_defaults_then_preset_then_given_values() -> None:
    registry = AlgorithmRegistry.discover()
    params = registry.validate("image-classification-cnn", {"epochs": 5}, preset="quick")
    assert params["epochs"] == 5  # given beats preset
    assert params["width"] == 8  # preset beats default
    assert params["batch_size"] == 32  # default


def test_integral_doubles_from_protobuf_structs_become_ints() -> None:
    params = AlgorithmRegistry.discover().validate(
        "image-classification-cnn", {"epochs": 5.0, "batch_size": 64.0}
    )
    assert params["epochs"] == 5 and isinstance(params["epochs"], int)
    assert isinstance(params["batch_size"], int)
    with pytest.raises(ParameterError):
        AlgorithmRegistry.discover().validate("image-classification-cnn", {"epochs": 5.5})


@pytest.mark.parametrize(
    ("params", "field"),
    [({"epochs": 0}, "epochs"), ({"batch_size": 7}, "batch_size"), ({"epochs": "ten"}, "epochs"),
     ({"learning_rat": 0.1}, "learning_rat")],
)  # fmt: skip
def test_invalid_parameters_name_the_field(params: dict, field: str) -> None:
    with pytest.raises(ParameterError) as raised:
        AlgorithmRegistry.discover().validate("image-classification-cnn", params)
    assert raised.value.field == field
    assert field in str(raised.value)


def test_unknown_algorithm_and_preset_are_clear_errors() -> None:
    registry = AlgorithmRegistry.discover()
    with pytest.raises(NotFound):
        registry.get("nope")
    with pytest.raises(ParameterError, match="preset"):
        registry.validate("text-classification-ngram", {}, preset="huge")


def test_every_algorithm_has_a_complete_parameter_form() -> None:
    registry = AlgorithmRegistry.discover()
    assert {"image-classification-cnn", "text-classification-ngram"} <= set(registry.ids())
    for algorithm in registry:
        described = algorithm.describe()
        for name, spec in described["parameters"]["properties"].items():
            assert {"default", "description", "title", "x-widget", "x-group"} <= set(spec), name
            assert "enum" in spec or spec["type"] == "boolean" or {"minimum", "maximum"} & set(spec), name
        for preset in ("quick", "default"):
            registry.validate(algorithm.id, {}, preset=preset)


PLUGIN = """
from mlops.algorithms.image_classification import ImageClassification


class Plugged(ImageClassification):
    id = "plugged-in"
    title = "A plug-in"
"""


def test_discovery_finds_a_plugin_through_the_entry_point_group(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "plugged_pkg.py").write_text(PLUGIN)
    dist = tmp_path / "plugged_pkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: plugged-pkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nplugged = plugged_pkg:Plugged\nbroken = plugged_pkg:Missing\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        registry = AlgorithmRegistry.discover()
        assert registry.get("plugged-in").title == "A plug-in"
        assert "image-classification-cnn" in registry.ids()  # a broken plug-in takes nothing else down
    finally:
        sys.modules.pop("plugged_pkg", None)


def test_split_by_purpose_is_order_independent_and_carves_validation() -> None:
    samples = [Sample(f"k{i}", b"", "a", Purpose.TRAINING if i % 5 else Purpose.TESTING) for i in range(100)]
    first = split_by_purpose(samples)
    second = split_by_purpose(list(reversed(samples)))
    assert first == second
    assert len(first.testing) == 20 and first.validation
    assert not {s.key for s in first.validation} & {s.key for s in first.training}


def test_devices_are_chosen_deliberately() -> None:
    assert str(resolve_device("cpu")) == "cpu"
    assert onnx_providers("cpu") == ["CPUExecutionProvider"]
    with pytest.raises(InvalidArgument) as raised:
        resolve_device("tpu")
    assert raised.value.field == "device"
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(InvalidArgument):
            resolve_device("cuda")
        assert str(resolve_device("auto")) == "cpu"


def test_reading_a_dataset_checks_annotations_and_purposes() -> None:
    algorithm = AlgorithmRegistry.discover().get("image-classification-cnn")
    good = Sample("a.png", b"", "cat", Purpose.TRAINING)
    with pytest.raises(InvalidArgument, match=r"sample b\.png: annotation"):
        algorithm.read_dataset([good, Sample("b.png", b"", 5, Purpose.TESTING)])
    with pytest.raises(InvalidArgument, match="testing"):
        algorithm.read_dataset([good])
