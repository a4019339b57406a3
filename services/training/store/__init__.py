"""The training service's storage: tables and the SQL repository (SQLite and PostgreSQL)."""

from services.training.store.records import LogRecord, MetricRecord, RunFilter, SeriesPoint
from services.training.store.sql import RunRepository

__all__ = ["LogRecord", "MetricRecord", "RunFilter", "RunRepository", "SeriesPoint"]
