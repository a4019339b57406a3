"""The registry's persistence: one SQL implementation of a unit of work, tested on SQLite and PostgreSQL."""

from .sql import SqlRegistryStore, SqlRegistryUnit

__all__ = ["SqlRegistryStore", "SqlRegistryUnit"]
