"""Demo data: hourly electricity demand of several sites over ten weeks, with daily and weekly cycles,
weather-driven swings, holidays and noise.

One site is one series CSV (`mlops.algorithms.series`: timestamp, target), exactly what the dataset
service stores for an uploaded series file; the dataset service's demo writes these files as uploads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from mlops.algorithms.base import Purpose, Sample
from mlops.algorithms.series import MEDIA_TYPE, write_series_csv

_DAY, _WEEK = 24, 168
_START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday: the weekly cycle's weekend falls on Saturday


def demand_series(rng: np.random.Generator, length: int) -> np.ndarray:
    t = np.arange(length)
    base = rng.uniform(200, 800)
    hour = t % _DAY
    daily = np.exp(-((hour - 9) ** 2) / 8) + 1.3 * np.exp(-((hour - 19) ** 2) / 6)
    weekend = ((t // _DAY) % 7 >= 5).astype(float)
    weekly = 1.0 - 0.25 * weekend
    weather = np.convolve(rng.normal(0, 1, length + 96), np.ones(96) / 96, mode="valid")[:length] * 6
    noise = np.zeros(length)
    shocks = rng.normal(0, 0.05, length)
    for i in range(1, length):  # AR(1): persistent deviations a model can learn and a naive copy cannot
        noise[i] = 0.7 * noise[i - 1] + shocks[i]
    trend = np.linspace(0, rng.uniform(-0.1, 0.15), length)
    return base * (weekly * (0.6 + 0.5 * daily) + 0.05 * weather + noise + trend)


def electricity_demand(seed: int = 0, sites: int = 12, weeks: int = 10) -> list[Sample]:
    rng = np.random.default_rng(seed)
    samples = []
    for index in range(sites):
        values = demand_series(rng, weeks * _WEEK)
        fraction = index / sites
        purpose = (
            Purpose.TRAINING if fraction < 0.6 else Purpose.VALIDATION if fraction < 0.75 else Purpose.TESTING
        )
        samples.append(
            Sample(
                key=f"site-{index:03d}.csv",
                content=write_series_csv(
                    [_START + timedelta(hours=hour) for hour in range(len(values))],
                    [],
                    [[] for _ in values],
                    target=np.round(values, 3).tolist(),
                ),
                annotation=None,
                purpose=purpose,
                media_type=MEDIA_TYPE,
            )
        )
    return samples
