"""Every service's migrations build exactly the schema its table definitions describe.

A fresh database migrated to head must match `tables.py` (columns, types, nullability, indexes,
constraints) on SQLite and on PostgreSQL; so must a database migrated step by step from the first
revision, which is what an existing installation goes through.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from mlops.kernel import tables as kernel_tables
from mlops.kernel.db import migrate, normalise_url
from services.dataset.store import tables as dataset_tables
from services.gateway import tables as gateway_tables
from services.registry.store import tables as registry_tables
from services.serving.store import tables as serving_tables
from services.training.store import tables as training_tables

REPO = Path(__file__).resolve().parents[2]
SERVICES = {
    "dataset": dataset_tables.metadata,
    "training": training_tables.metadata,
    "registry": registry_tables.metadata,
    "serving": serving_tables.metadata,
    "gateway": gateway_tables.metadata,
}


def _expected(service_metadata: MetaData) -> MetaData:
    combined = MetaData()
    for source in (kernel_tables.metadata, service_metadata):
        for table in source.tables.values():
            table.to_metadata(combined)
    return combined


def _compare(connection: Connection, expected: MetaData) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, expected))


async def _differences(url: str, expected: MetaData) -> list[Any]:
    engine = create_async_engine(normalise_url(url))
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_compare, expected)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_head_matches_the_table_definitions(service: str, database_url: str) -> None:
    migrate(database_url, REPO / "services" / service / "migrations" / "versions")
    differences = asyncio.run(_differences(database_url, _expected(SERVICES[service])))
    # alembic_version is Alembic's own.
    assert [d for d in differences if not (d[0] == "remove_table" and d[1].name == "alembic_version")] == []
