"""Settings of the training service process (MLOPS_* environment variables)."""

from __future__ import annotations

from mlops.kernel.runtime import RuntimeSettings


class TrainingSettings(RuntimeSettings):
    service_name: str = "training"
    grpc_port: int = 50052
    # Where StartRun checks that a dataset version exists and is published.
    dataset_address: str = "127.0.0.1:50051"
    # A worker renews its run's lease with every progress report (at least every few seconds); a
    # lease that runs out means the worker is gone, and the watchdog fails the run "worker lost".
    run_lease_seconds: float = 30.0
    watchdog_interval_seconds: float = 10.0
    # 0: no limit.
    max_active_runs_per_user: int = 0
    max_running_runs_per_pool: int = 0
    # Prefix of the Celery keys in Redis, shared with the workers (platforms sharing one Redis).
    celery_key_prefix: str = ""
