"""The serving worker's settings (MLOPS_* environment variables)."""

from __future__ import annotations

from mlops.kernel.settings import KernelSettings


class ServingWorkerSettings(KernelSettings):
    # Triton's conventional ports, so its clients work with their defaults.
    inference_host: str = "127.0.0.1"
    inference_rest_port: int = 8000
    inference_grpc_port: int = 8001
    inference_metrics_port: int = 8002
    worker_id: str = ""
