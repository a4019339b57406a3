"""Settings of the training service process (MLOPS_* environment variables)."""

from __future__ import annotations

from mlops.kernel.runtime import RuntimeSettings


class TrainingSettings(RuntimeSettings):
    service_name: str = "training"
    grpc_port: int = 50052
