"""`mlops up`'s settings: the data directory and, for each external part, where it already runs.

An empty URL means "start our own": the supervisor then runs that server from its PyPI wheel.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class StackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MLOPS_", extra="ignore")

    data_dir: Path = Path(".mlops")
    nats_url: str = ""
    redis_url: str = ""
    # A server URL (any database on it): the stack uses one database per service, mlops_<service>.
    postgres_url: str = ""
    s3_endpoint: str = ""
    s3_access_key: str = ""
    s3_secret_key: SecretStr = SecretStr("")
    s3_bucket: str = "mlops"
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
