"""Demo data for anomaly detection (service metrics) and forecasting (hourly electricity demand).

The series come from the algorithms' own demo generators, one series CSV per monitored service or
site, uploaded with format FILE: each file becomes one sample in the form the algorithms train on.
"""

from __future__ import annotations

from pathlib import Path

from mlops.algorithms.anomaly_detection.demo import service_metrics
from mlops.algorithms.base import Sample
from mlops.algorithms.forecasting.demo import electricity_demand
from mlops.algorithms.series import MEDIA_TYPE

from ..domain import Scenario
from ..ingest import UploadFormat, UploadSpec
from .spec import DEFAULT_RATIOS, DemoDataset, DemoFile


def series_files(samples: list[Sample], directory: Path) -> tuple[DemoFile, ...]:
    """One uploaded series file per sample, named after it."""
    files = []
    for sample in samples:
        path = directory / sample.key
        path.write_bytes(sample.content)
        spec = UploadSpec(file_name=path.name, format=UploadFormat.FILE, media_type=MEDIA_TYPE)
        files.append(DemoFile(path, spec))
    return tuple(files)


def anomaly_detection(directory: Path, seed: int) -> DemoDataset:
    """Service metrics every 15 minutes over five days with labelled incidents, one file per service."""
    samples = service_metrics(seed)
    return DemoDataset(
        scenario=Scenario.ANOMALY_DETECTION,
        name="demo-service-metrics",
        description=f"Synthetic CPU, memory, latency and error-rate series of {len(samples)} services "
        "every 15 minutes, with labelled incidents (a 0/1 label per time step).",
        tags=("demo", "metrics"),
        files=series_files(samples, directory),
        ratios=DEFAULT_RATIOS,
        seed=seed,
    )


def time_series_forecasting(directory: Path, seed: int) -> DemoDataset:
    """Hourly electricity demand of several sites over ten weeks, one file per site."""
    samples = electricity_demand(seed)
    return DemoDataset(
        scenario=Scenario.TIME_SERIES_FORECASTING,
        name="demo-electricity-demand",
        description=f"Synthetic hourly electricity demand of {len(samples)} sites over ten weeks, with "
        "daily and weekly cycles and weather-driven swings.",
        tags=("demo", "energy"),
        files=series_files(samples, directory),
        ratios=DEFAULT_RATIOS,
        seed=seed,
    )
