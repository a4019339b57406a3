"""The gateway's settings: its own token database, HTTP listener, and the services it reports on."""

from __future__ import annotations

from pydantic import SecretStr

from mlops.kernel.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    service_name: str = "gateway"
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    # gRPC addresses whose health /healthz rolls up (the identity service is the gateway's own).
    dataset_address: str = "127.0.0.1:50051"
    training_address: str = "127.0.0.1:50052"
    registry_address: str = "127.0.0.1:50053"
    serving_address: str = "127.0.0.1:50054"
    health_timeout_seconds: float = 1.0
    # Tokens to register on first start instead of generating them, for deployments where the
    # gateway's data directory is not shared with whoever needs the tokens. Only hashes are stored.
    bootstrap_admin_token: SecretStr | None = None
    bootstrap_service_token: SecretStr | None = None

    def identity_bind(self) -> tuple[str, int]:
        """Where the identity gRPC server listens: the identity address every process dials."""
        host, _, port = self.identity_address.rpartition(":")
        return host or "127.0.0.1", int(port)

    def service_addresses(self) -> dict[str, str]:
        return {
            "identity": self.identity_address,
            "dataset": self.dataset_address,
            "training": self.training_address,
            "registry": self.registry_address,
            "serving": self.serving_address,
        }
