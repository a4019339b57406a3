"""Typed settings, one object per process, read from MLOPS_* environment variables and defaults.

Every process reads the same prefix; the embedded supervisor and compose give each process its own
environment (for example its own MLOPS_DATABASE_URL), so no setting needs a per-service prefix.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class S3Settings(BaseModel):
    endpoint: str = "127.0.0.1:8333"
    access_key: str = "mlops"
    secret_key: SecretStr = SecretStr("mlops-secret")
    bucket: str = "mlops"
    secure: bool = False
    region: str = "us-east-1"
    # Where clients outside the platform reach the same store (host[:port]), signed into the
    # short-lived download URLs handed to them; empty: `endpoint`. `public_secure` None: `secure`.
    public_endpoint: str = ""
    public_secure: bool | None = None


class TlsSettings(BaseModel):
    """TLS for gRPC between the platform's processes; off while no file is named.

    A process serves TLS when `cert_file` and `key_file` are set, and dials TLS when `ca_file` or
    `cert_file` is (verifying servers against `ca_file`, or the system's roots without it). With
    `require_client_certs` servers demand a certificate signed by `ca_file` (mutual TLS), and every
    process presents its own `cert_file` when it dials.
    """

    cert_file: Path | None = None
    key_file: Path | None = None
    ca_file: Path | None = None
    # The name to expect in the server's certificate instead of the dialled host (tests, IP-only DNS).
    server_name_override: str = ""
    require_client_certs: bool = False

    @model_validator(mode="after")
    def _complete_and_readable(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("MLOPS_TLS__CERT_FILE and MLOPS_TLS__KEY_FILE must be set together")
        if self.require_client_certs and (self.ca_file is None or self.cert_file is None):
            raise ValueError(
                "MLOPS_TLS__REQUIRE_CLIENT_CERTS needs MLOPS_TLS__CA_FILE, MLOPS_TLS__CERT_FILE and "
                "MLOPS_TLS__KEY_FILE"
            )
        for path in (self.cert_file, self.key_file, self.ca_file):
            if path is not None:
                _check_readable(path)
        return self

    @property
    def serves_tls(self) -> bool:
        return self.cert_file is not None

    @property
    def dials_tls(self) -> bool:
        return self.ca_file is not None or self.cert_file is not None


def _check_readable(path: Path) -> None:
    """Fails at start, naming the file, rather than at the first connection."""
    try:
        with path.open("rb") as file:
            file.read(1)
    except OSError as error:
        raise ValueError(f"TLS file {path} cannot be read: {error.strerror or error}") from None


class KernelSettings(BaseSettings):
    """What every process of the platform needs to reach the shared infrastructure."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Path(".mlops")
    nats_url: str = "nats://127.0.0.1:4222"
    s3: S3Settings = Field(default_factory=S3Settings)
    tls: TlsSettings = Field(default_factory=TlsSettings)
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
