"""Settings of the serving service process (MLOPS_* environment variables)."""

from __future__ import annotations

from mlops.kernel.runtime import RuntimeSettings


class ServingSettings(RuntimeSettings):
    service_name: str = "serving"
    grpc_port: int = 50054
