"""Each scenario meets its quality bar with default parameters on its demo data (minutes: slow)."""

from __future__ import annotations

import time

import pytest

from mlops.algorithms import TrainingContext, validate_parameters
from mlops.algorithms.builtin import builtin_algorithms

ALGORITHMS = {a.id: a for a in builtin_algorithms()}


@pytest.mark.slow
@pytest.mark.parametrize("algorithm_id", sorted(ALGORITHMS))
def test_default_parameters_meet_the_bar(algorithm_id: str) -> None:
    algorithm = ALGORITHMS[algorithm_id]
    params = validate_parameters(algorithm, {}, preset="default")
    started = time.monotonic()
    result = algorithm.train(algorithm.demo_dataset(), params, TrainingContext(seed=0, device="cpu"))
    assert time.monotonic() - started < 180
    for bar in algorithm.quality_bars:
        assert bar.met_by(result.metrics), f"{bar.describe()}: got {result.metrics[bar.metric]:.4f}"
