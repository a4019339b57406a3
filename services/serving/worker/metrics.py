"""Prometheus metrics of the data plane, served on their own port (Triton's 8002)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, make_asgi_app
from starlette.types import ASGIApp


class InferenceMetrics:
    def __init__(self) -> None:
        # A registry of our own keeps tests that build several workers in one process independent.
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mlops_inference_requests",
            "Inference protocol requests by protocol, method and outcome.",
            ["protocol", "method", "model", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mlops_inference_request_seconds",
            "Time spent answering inference requests.",
            ["protocol", "method", "model"],
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )

    def observe(self, protocol: str, method: str, model: str, code: str, seconds: float) -> None:
        self.requests.labels(protocol, method, model, code).inc()
        self.latency.labels(protocol, method, model).observe(seconds)

    def asgi_app(self) -> ASGIApp:
        return make_asgi_app(self.registry)
