"""Every ingest limit is a setting of the dataset service: MLOPS_* variables reach the readers."""

from __future__ import annotations

import dataclasses

import pytest

from services.dataset.ingest import IngestLimits
from services.dataset.settings import DatasetSettings


def test_every_ingest_limit_is_set_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    fields = [f.name for f in dataclasses.fields(IngestLimits)]
    # A value per field unlike any default, so a limit wired to the wrong setting shows.
    wanted = {name: 1000 + index for index, name in enumerate(fields)}
    for name, value in wanted.items():
        monkeypatch.setenv(f"MLOPS_{name.upper()}", str(value))
    limits = DatasetSettings().ingest_limits()
    assert dataclasses.asdict(limits) == wanted


def test_settings_default_to_the_ingest_defaults() -> None:
    assert DatasetSettings().ingest_limits() == IngestLimits()
