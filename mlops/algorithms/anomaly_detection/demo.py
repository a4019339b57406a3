"""Demo data: service metrics (CPU, memory, latency, error rate) every 15 minutes over five days, with
injected incidents: spikes, level shifts, stuck or dropped metrics and broken correlations.

One monitored service is one series CSV (`mlops.algorithms.series`) with a 0/1 label column: exactly
what the dataset service stores for an uploaded series file. The dataset service's demo writes these
files as uploads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from mlops.algorithms.base import Purpose, Sample
from mlops.algorithms.series import MEDIA_TYPE, write_series_csv

METRICS = ["cpu_percent", "memory_percent", "latency_ms", "error_rate"]
_DAY = 96
_START = datetime(2026, 1, 1, tzinfo=UTC)
_STEP = timedelta(minutes=15)


def _normal_series(rng: np.random.Generator, length: int) -> np.ndarray:
    t = np.arange(length)
    phase = rng.uniform(0, 2 * np.pi)
    load = 0.5 + 0.3 * np.sin(2 * np.pi * t / _DAY + phase) + 0.08 * np.sin(4 * np.pi * t / _DAY + 2 * phase)
    load = load + np.convolve(rng.normal(0, 0.03, length), np.ones(4) / 4, mode="same")
    cpu = 15 + 60 * load + rng.normal(0, 1.5, length)
    memory = 45 + 12 * load + np.cumsum(rng.normal(0, 0.05, length)) + rng.normal(0, 0.6, length)
    latency = 60 + 90 * load**2 + rng.normal(0, 3.0, length)
    errors = 0.4 + 1.6 * load + rng.normal(0, 0.12, length)
    return np.stack([cpu, memory, latency, errors], axis=1)


def _inject(series: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> None:
    length = len(series)
    for _ in range(int(rng.integers(3, 6))):
        span = int(rng.integers(3, 12))
        start = int(rng.integers(_DAY // 2, length - span))
        segment = slice(start, start + span)
        kind = int(rng.integers(4))
        if kind == 0:  # a spike in one metric
            metric = int(rng.integers(4))
            series[segment, metric] += rng.choice([-1, 1]) * rng.uniform(5, 9) * series[:, metric].std()
        elif kind == 1:  # latency and errors jump together (an incident)
            series[segment, 2] *= rng.uniform(1.8, 2.5)
            series[segment, 3] += rng.uniform(2.0, 4.0)
        elif kind == 2:  # CPU pinned while the rest says the service is idle
            series[segment, 0] = rng.uniform(95, 99) + rng.normal(0, 0.3, span)
        else:  # a metric stops reporting and reads zero
            series[segment, int(rng.integers(4))] = 0.0
        labels[segment] = 1


def service_metrics(seed: int = 0, series_count: int = 30, length: int = 5 * _DAY) -> list[Sample]:
    rng = np.random.default_rng(seed)
    samples = []
    for index in range(series_count):
        series = _normal_series(rng, length)
        labels = np.zeros(length, dtype=np.int64)
        _inject(series, labels, rng)
        fraction = index / series_count
        purpose = (
            Purpose.TRAINING if fraction < 0.6 else Purpose.VALIDATION if fraction < 0.75 else Purpose.TESTING
        )
        content = write_series_csv(
            [_START + _STEP * step for step in range(length)],
            METRICS,
            np.round(series, 3).tolist(),
            labels=[str(flag) for flag in labels.tolist()],
        )
        samples.append(
            Sample(
                key=f"service-{index:03d}.csv",
                content=content,
                annotation=None,
                purpose=purpose,
                media_type=MEDIA_TYPE,
            )
        )
    return samples
