"""The built-in algorithms. pyproject.toml registers each under the "mlops.algorithms" entry points;
this list lets the registry include them even where the package metadata is stale."""

from __future__ import annotations

from mlops.algorithms.base import Algorithm


def builtin_algorithms() -> list[Algorithm]:
    from mlops.algorithms.anomaly_detection import AnomalyDetection
    from mlops.algorithms.forecasting import Forecasting
    from mlops.algorithms.image_classification import ImageClassification
    from mlops.algorithms.log_clustering import LogClustering
    from mlops.algorithms.object_detection import ObjectDetection
    from mlops.algorithms.text_classification import TextClassification

    return [
        AnomalyDetection(),
        Forecasting(),
        ImageClassification(),
        LogClustering(),
        ObjectDetection(),
        TextClassification(),
    ]
