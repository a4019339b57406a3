"""Settings of the serving service process (MLOPS_* environment variables)."""

from __future__ import annotations

from mlops.kernel.runtime import RuntimeSettings


class ServingSettings(RuntimeSettings):
    service_name: str = "serving"
    grpc_port: int = 50054
    registry_address: str = "127.0.0.1:50053"
    registry_timeout_seconds: float = 10.0
    # What RegisterWorker tells workers; a worker silent for worker_dead_after_seconds is dead and
    # its replicas move elsewhere.
    worker_heartbeat_seconds: int = 2
    worker_dead_after_seconds: float = 10.0
    # How often the control plane sweeps: dead workers, automatic rollback, idle flags, TTL stops.
    sweep_interval_seconds: float = 2.0
    # Per-replica resources when a deploy names none.
    default_replica_memory_bytes: int = 256 * 1024 * 1024
    default_replica_threads: int = 1
