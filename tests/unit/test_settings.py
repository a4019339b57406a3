"""Typed settings from MLOPS_* environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.kernel.settings import ServiceSettings


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MLOPS_NATS_URL", "nats://127.0.0.1:1234")
    monkeypatch.setenv("MLOPS_S3__ENDPOINT", "127.0.0.1:9000")
    monkeypatch.setenv("MLOPS_S3__SECRET_KEY", "s3cret")
    monkeypatch.setenv("MLOPS_SERVICE_NAME", "dataset")
    settings = ServiceSettings()
    assert settings.nats_url == "nats://127.0.0.1:1234"
    assert settings.s3.endpoint == "127.0.0.1:9000"
    assert settings.s3.secret_key.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.resolved_database_url() == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'dataset.db'}"


def test_an_explicit_database_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_DATABASE_URL", "postgresql://db/mlops_dataset")
    assert ServiceSettings().resolved_database_url() == "postgresql://db/mlops_dataset"
