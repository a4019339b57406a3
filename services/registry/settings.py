"""Settings of the registry service process (MLOPS_* environment variables)."""

from __future__ import annotations

from mlops.kernel.runtime import RuntimeSettings


class RegistrySettings(RuntimeSettings):
    service_name: str = "registry"
    grpc_port: int = 50053
