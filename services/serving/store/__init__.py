"""The serving service's storage."""

from services.serving.store.sql import SqlServingStore

__all__ = ["SqlServingStore"]
