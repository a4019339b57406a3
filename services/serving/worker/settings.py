"""The serving worker's settings (MLOPS_* environment variables)."""

from __future__ import annotations

from mlops.kernel.settings import KernelSettings


class ServingWorkerSettings(KernelSettings):
    # Triton's conventional ports, so its clients work with their defaults.
    inference_host: str = "127.0.0.1"
    inference_rest_port: int = 8000
    inference_grpc_port: int = 8001
    inference_metrics_port: int = 8002
    # host:port clients reach this worker's gRPC at, reported to the control plane; empty: the bind
    # address (right on loopback; in a container set the pod or service address, not 0.0.0.0).
    inference_reachable_at: str = ""
    worker_id: str = ""
    # Off only where every caller is trusted (the bench): then every model is public.
    inference_auth: bool = True
    # Larger requests are refused with INVALID_ARGUMENT / 400 before they are decoded.
    inference_max_request_bytes: int = 64 * 1024 * 1024
    # auto: CUDA where a driver and the CUDA provider are present, the CPU otherwise.
    inference_device: str = "auto"
    # onnxruntime intra-op threads per replica; 0 lets onnxruntime use every core.
    inference_model_threads: int = 1
    # Threads running model calls slower than a thread hand-off (one per core is the usual choice).
    inference_pool_threads: int = 2
    # Models loaded at start, `name=bundle path or blob:<sha256>` separated by commas (the embedded
    # stack and the bench; deployed workers get theirs from the control plane).
    inference_models: str = ""
    # Dynamic batching for the models loaded at start: max rows per model call (0 or 1: off) and
    # the longest a request waits for others to join it.
    inference_max_batch_size: int = 0
    inference_max_queue_delay_us: int = 0
    inference_public_models: bool = False
    # uvloop under grpc.aio and uvicorn: less event-loop overhead per request.
    inference_uvloop: bool = True
    # The serving control plane's WorkerRegistry; empty: a stand-alone worker hosting inference_models.
    serving_control_address: str = ""
    # cpu or gpu: the pool this worker joins.
    worker_pool: str = "cpu"
    # Request logging (deployments with it switched on): a write every this many records or seconds;
    # past these many buffered records or tensor bytes, sampled requests are dropped (and counted).
    request_log_flush_records: int = 1000
    request_log_flush_seconds: float = 10.0
    request_log_buffer_records: int = 10_000
    request_log_buffer_bytes: int = 64 * 1024 * 1024
