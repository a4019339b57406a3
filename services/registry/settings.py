"""Settings of the registry service process (MLOPS_* environment variables)."""

from __future__ import annotations

from mlops.kernel.runtime import RuntimeSettings

MiB = 1024 * 1024


class RegistrySettings(RuntimeSettings):
    service_name: str = "registry"
    grpc_port: int = 50053
    # The training service, asked for a run's lineage when registering it.
    training_address: str = "127.0.0.1:50052"
    training_timeout_seconds: float = 10.0
    # An outside ONNX upload is spooled to disk and refused past this size.
    max_upload_bytes: int = 512 * MiB
