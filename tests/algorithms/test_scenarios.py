"""Every built-in scenario: quick training, ONNX that onnxruntime loads, parity, determinism, stops."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from mlops.algorithms import (
    Algorithm,
    ModelBundle,
    Sample,
    TrainingContext,
    TrainingResult,
    validate_parameters,
)
from mlops.algorithms.builtin import builtin_algorithms
from mlops.kernel.errors import InvalidArgument

ALGORITHMS = {a.id: a for a in builtin_algorithms()}
_TRAINED: dict[str, TrainingResult] = {}
_DEMO: dict[str, list[Sample]] = {}


def demo(algorithm: Algorithm) -> list[Sample]:
    if algorithm.id not in _DEMO:
        _DEMO[algorithm.id] = algorithm.demo_dataset()
    return _DEMO[algorithm.id]


def quick_train(algorithm: Algorithm, seed: int = 7, **context: Any) -> TrainingResult:
    params = validate_parameters(algorithm, {}, preset="quick")
    return algorithm.train(demo(algorithm), params, TrainingContext(seed=seed, device="cpu", **context))


@pytest.fixture(params=sorted(ALGORITHMS))
def algorithm(request) -> Algorithm:
    return ALGORITHMS[request.param]


@pytest.fixture
def trained(algorithm: Algorithm) -> TrainingResult:
    if algorithm.id not in _TRAINED:
        _TRAINED[algorithm.id] = quick_train(algorithm)
    return _TRAINED[algorithm.id]


def test_quick_training_reports_progress_and_metrics(algorithm: Algorithm) -> None:
    reports = []
    result = quick_train(algorithm, seed=7, callback=reports.append)
    _TRAINED[algorithm.id] = result
    assert reports and reports[-1].epoch == len(reports)
    assert all(math.isfinite(v) for r in reports for v in r.metrics.values())
    assert {bar.metric for bar in algorithm.quality_bars} <= set(result.metrics)
    assert result.model_card.to_markdown().startswith("# ")
    assert not result.stopped
    # Everything the services store or send to the console is plain JSON.
    json.dumps(
        [algorithm.describe(), result.metrics, result.evaluation, result.bundle.manifest()], allow_nan=True
    )


def test_exported_model_loads_in_onnxruntime_and_matches_its_signature(
    algorithm: Algorithm, trained: TrainingResult
) -> None:
    import onnx

    proto = onnx.load_from_string(trained.bundle.onnx_model)
    assert proto.ir_version <= 10
    predictor = algorithm.predictor(ModelBundle.from_zip(trained.bundle.to_zip()), device="cpu")
    session = predictor.backend.session
    assert [i.name for i in session.get_inputs()] == [t.name for t in trained.bundle.signature.inputs]
    assert [o.name for o in session.get_outputs()] == [t.name for t in trained.bundle.signature.outputs]
    assert predictor.predict_one(algorithm.example_input())


def test_evaluation_and_serving_paths_agree(algorithm: Algorithm, trained: TrainingResult) -> None:
    """Parity: the trainer's evaluation (PyTorch) and the serving predictor (ONNX) share pre/post-processing
    and give the same results for the same testing samples."""
    predictor = algorithm.predictor(trained.bundle, device="cpu")
    samples = {s.key: s for s in demo(algorithm)}
    evaluated = trained.evaluation["predictions"]
    assert evaluated
    inputs = [e["input"] if "input" in e else algorithm.sample_input(samples[e["key"]]) for e in evaluated]
    served = predictor.predict(inputs)
    for expected, actual in zip(evaluated, served, strict=True):
        _assert_close({k: v for k, v in expected.items() if k in actual}, actual)


def test_same_data_params_and_seed_give_a_byte_identical_onnx_file(
    algorithm: Algorithm, trained: TrainingResult
) -> None:
    again = quick_train(algorithm, seed=7)
    assert again.bundle.onnx_sha256 == trained.bundle.onnx_sha256
    assert (
        again.bundle.to_zip() == trained.bundle.to_zip()
        or again.bundle.model_card != trained.bundle.model_card
    )


def test_should_stop_ends_training_early(algorithm: Algorithm) -> None:
    calls = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) > 3

    result = quick_train(algorithm, should_stop=should_stop)
    assert result.stopped
    assert result.bundle.onnx_model


def _assert_close(expected: Any, actual: Any, path: str = "") -> None:
    if isinstance(expected, dict):
        assert set(expected) == set(actual), path
        for key in expected:
            _assert_close(expected[key], actual[key], f"{path}.{key}")
    elif isinstance(expected, list | tuple):
        assert len(expected) == len(actual), path
        for index, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _assert_close(e, a, f"{path}[{index}]")
    elif isinstance(expected, float):
        assert math.isclose(expected, actual, rel_tol=1e-4, abs_tol=1e-5), path
    else:
        assert expected == actual, path


BAD_INPUTS = {
    "anomaly-detection-autoencoder": [[1.0, 2.0]],
    "forecasting-nlinear": [1.0, 2.0, 3.0],
    "image-classification-cnn": b"not an image",
    "log-clustering-templates": 42,
    "object-detection-centernet": "bm90IGFuIGltYWdl",
    "text-classification-ngram": {"text": "not a string"},
}


def test_unusable_human_input_is_an_invalid_argument(algorithm: Algorithm, trained: TrainingResult) -> None:
    predictor = algorithm.predictor(trained.bundle, device="cpu")
    with pytest.raises(InvalidArgument):
        predictor.predict_one(BAD_INPUTS[algorithm.id])
