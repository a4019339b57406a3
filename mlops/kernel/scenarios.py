"""The platform's shared vocabulary: the six algorithm scenarios and the purpose labels of samples.

Datasets, algorithms, runs and models all speak of these; they live here once.
"""

from __future__ import annotations

from enum import StrEnum

from mlops.kernel.errors import InvalidArgument


class Scenario(StrEnum):
    """The six built-in algorithm scenarios (mlops.common.v1.Scenario without its prefix)."""

    ANOMALY_DETECTION = "anomaly_detection"
    TIME_SERIES_FORECASTING = "time_series_forecasting"
    LOG_CLUSTERING = "log_clustering"
    TEXT_CLASSIFICATION = "text_classification"
    IMAGE_CLASSIFICATION = "image_classification"
    OBJECT_DETECTION = "object_detection"

    @classmethod
    def parse(cls, value: str, *, field: str = "scenario") -> Scenario:
        key = value.strip().lower().removeprefix("scenario_")
        try:
            return cls(key)
        except ValueError:
            known = ", ".join(s.value for s in cls)
            raise InvalidArgument(
                f"unknown scenario {value!r}; expected one of {known}", field=field
            ) from None


class Purpose(StrEnum):
    TRAINING = "training"
    VALIDATION = "validation"
    TESTING = "testing"

    @classmethod
    def parse(cls, value: str, *, field: str = "purpose") -> Purpose:
        key = value.strip().lower().removeprefix("purpose_")
        purpose = _PURPOSE_ALIASES.get(key)
        if purpose is None:
            raise InvalidArgument(
                f"unknown purpose {value!r}; expected training, validation or testing", field=field
            )
        return purpose


# Spellings people use in folder names and CSV columns (ImageFolder datasets ship train/val/test).
_PURPOSE_ALIASES = {
    "training": Purpose.TRAINING,
    "train": Purpose.TRAINING,
    "validation": Purpose.VALIDATION,
    "val": Purpose.VALIDATION,
    "valid": Purpose.VALIDATION,
    "testing": Purpose.TESTING,
    "test": Purpose.TESTING,
}


def is_purpose_name(value: str) -> bool:
    return value.strip().lower() in _PURPOSE_ALIASES
