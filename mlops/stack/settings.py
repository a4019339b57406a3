"""`mlops up`'s settings: the data directory and, for each external part, where it already runs.

An empty URL means "start our own": the supervisor then runs that server from its PyPI wheel.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class StackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MLOPS_", extra="ignore", populate_by_name=True)

    data_dir: Path = Path(".mlops")
    nats_url: str = ""
    redis_url: str = ""
    # A server URL (any database on it): the stack uses one database per service, mlops_<service>.
    postgres_url: str = ""
    # Both spellings work: MLOPS_S3_ENDPOINT, and MLOPS_S3__ENDPOINT as the services' settings read it.
    s3_endpoint: str = Field(
        "", validation_alias=AliasChoices("s3_endpoint", "MLOPS_S3_ENDPOINT", "MLOPS_S3__ENDPOINT")
    )
    s3_access_key: str = Field(
        "", validation_alias=AliasChoices("s3_access_key", "MLOPS_S3_ACCESS_KEY", "MLOPS_S3__ACCESS_KEY")
    )
    s3_secret_key: SecretStr = Field(
        SecretStr(""),
        validation_alias=AliasChoices("s3_secret_key", "MLOPS_S3_SECRET_KEY", "MLOPS_S3__SECRET_KEY"),
    )
    s3_bucket: str = Field(
        "mlops", validation_alias=AliasChoices("s3_bucket", "MLOPS_S3_BUCKET", "MLOPS_S3__BUCKET")
    )
    # Seconds for everything to become healthy.
    health_timeout: float = 90.0
    # Seconds a child gets between SIGTERM and SIGKILL.
    stop_grace: float = 10.0
    # Components left out (for development and focused tests), comma-separated names.
    skip: str = ""

    def skipped(self) -> set[str]:
        return {name.strip() for name in self.skip.split(",") if name.strip()}

    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()
