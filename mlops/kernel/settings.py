"""Typed settings, one object per process, read from MLOPS_* environment variables and defaults.

Every process reads the same prefix; the embedded supervisor and compose give each process its own
environment (for example its own MLOPS_DATABASE_URL), so no setting needs a per-service prefix.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class S3Settings(BaseModel):
    endpoint: str = "127.0.0.1:8333"
    access_key: str = "mlops"
    secret_key: SecretStr = SecretStr("mlops-secret")
    bucket: str = "mlops"
    secure: bool = False
    region: str = "us-east-1"


class KernelSettings(BaseSettings):
    """What every process of the platform needs to reach the shared infrastructure."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Path(".mlops")
    nats_url: str = "nats://127.0.0.1:4222"
    s3: S3Settings = Field(default_factory=S3Settings)
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Address of the identity service (hosted by the gateway) that resolves API tokens.
    identity_address: str = "127.0.0.1:50050"
    # A token the process itself uses for calls it makes on no user's behalf (workers, relays).
    service_token: SecretStr | None = None
    otlp_endpoint: str | None = None
    log_level: str = "INFO"
    log_json: bool = True
    # 0 disables the Prometheus endpoint.
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"


class ServiceSettings(KernelSettings):
    """A gRPC service process with its own database."""

    service_name: str = "service"
    # Empty: a SQLite file named after the service in the data directory.
    database_url: str = ""
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 0
    # How long consumers keep processed event ids (must exceed how long a redelivery can come).
    inbox_retention_seconds: int = 8 * 24 * 3600

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{self.service_name}.db').resolve()}"
