"""Plain records the repository reads and writes besides the run aggregate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class MetricRecord:
    key: str
    step: int
    value: float
    at: datetime


@dataclass(frozen=True)
class SeriesPoint:
    step: int
    value: float
    at: datetime | None = None


@dataclass(frozen=True)
class LogRecord:
    seq: int
    at: datetime
    stream: str
    text: str


@dataclass(frozen=True)
class RunFilter:
    status: str = ""
    owner: str = ""
    dataset_id: str = ""
    dataset_version: int = 0
    algorithm_id: str = ""
