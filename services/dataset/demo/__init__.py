"""Small realistic datasets made by code, one per scenario, written in the formats uploads use.

The data comes from the algorithm catalog's demo generators (`mlops/algorithms/<scenario>/demo.py`),
so there is one generator per scenario and the stored samples are what the algorithms train on. A demo
load goes through the same `read_upload` validation as any user's upload.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..domain import Scenario
from .images import image_classification, object_detection
from .spec import DEFAULT_RATIOS, DemoDataset, DemoFile
from .tabular import anomaly_detection, time_series_forecasting
from .text import log_clustering, text_classification

DEMO_GENERATORS: dict[Scenario, Callable[[Path, int], DemoDataset]] = {
    Scenario.ANOMALY_DETECTION: anomaly_detection,
    Scenario.TIME_SERIES_FORECASTING: time_series_forecasting,
    Scenario.LOG_CLUSTERING: log_clustering,
    Scenario.TEXT_CLASSIFICATION: text_classification,
    Scenario.IMAGE_CLASSIFICATION: image_classification,
    Scenario.OBJECT_DETECTION: object_detection,
}


def generate_demo(scenario: Scenario, directory: Path, seed: int = 0) -> DemoDataset:
    """Writes the scenario's demo files into `directory` (which must exist); same seed, same bytes."""
    return DEMO_GENERATORS[scenario](directory, seed)


__all__ = ["DEFAULT_RATIOS", "DEMO_GENERATORS", "DemoDataset", "DemoFile", "generate_demo"]
