"""Settings of the dataset service process (MLOPS_* environment variables)."""

from __future__ import annotations

from mlops.kernel.runtime import RuntimeSettings


class DatasetSettings(RuntimeSettings):
    service_name: str = "dataset"
    grpc_port: int = 50051
