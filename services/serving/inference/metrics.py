"""Per-model Prometheus metrics of the data plane, and a summary of them for the control plane's API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, make_asgi_app
from starlette.types import ASGIApp

_LATENCY_BUCKETS = (0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@dataclass(frozen=True)
class ModelSummary:
    requests: int
    errors: int
    latency_p50_ms: float
    latency_p99_ms: float
    mean_batch_size: float
    mean_queue_time_ms: float


class InferenceMetrics:
    def __init__(self) -> None:
        # A registry of our own keeps tests that build several workers in one process independent.
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mlops_inference_requests",
            "Inference protocol requests by protocol, method, model and outcome.",
            ["protocol", "method", "model", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mlops_inference_request_seconds",
            "Time spent answering inference requests.",
            ["protocol", "method", "model"],
            registry=self.registry,
            buckets=_LATENCY_BUCKETS,
        )
        self.batch_rows = Histogram(
            "mlops_inference_batch_size",
            "Rows in the model call each request was part of.",
            ["model"],
            registry=self.registry,
            buckets=_BATCH_BUCKETS,
        )
        self.queue_time = Histogram(
            "mlops_inference_queue_seconds",
            "Time a request waited for its batch to start.",
            ["model"],
            registry=self.registry,
            buckets=_LATENCY_BUCKETS,
        )

        # Children by label values: `labels()` takes a lock and builds a key on every call.
        self._counted: dict[tuple[str, ...], Any] = {}
        self._timed: dict[tuple[str, ...], Any] = {}
        self._runs: dict[str, tuple[Any, Any]] = {}

    def observe(self, protocol: str, method: str, model: str, code: str, seconds: float) -> None:
        key = (protocol, method, model, code)
        counter = self._counted.get(key)
        if counter is None:
            counter = self._counted[key] = self.requests.labels(*key)
        counter.inc()
        timer = self._timed.get(key[:3])
        if timer is None:
            timer = self._timed[key[:3]] = self.latency.labels(*key[:3])
        timer.observe(seconds)

    def observe_run(self, model: str, batch_rows: int, queue_seconds: float) -> None:
        children = self._runs.get(model)
        if children is None:
            children = self._runs[model] = (self.batch_rows.labels(model), self.queue_time.labels(model))
        children[0].observe(batch_rows)
        children[1].observe(queue_seconds)

    def summary(self, model: str, *, shadow: bool = False) -> ModelSummary:
        """Totals since the worker started; quantiles interpolated within histogram buckets.

        `shadow`: the copies this model answered as a shadow, instead of the requests it answered to
        clients. Kept apart so that a shadow made canary starts with no figures: automatic rollback
        judges only what it answered as the canary.
        """
        requests = errors = 0
        latency: dict[float, float] = {}
        batch_sum = batch_count = queue_sum = queue_count = 0.0
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.labels.get("model") != model:
                    continue
                if "method" in sample.labels and (sample.labels["method"] == "shadow") != shadow:
                    continue
                if sample.name == "mlops_inference_requests_total":
                    requests += int(sample.value)
                    errors += 0 if sample.labels["code"] == "OK" else int(sample.value)
                elif sample.name == "mlops_inference_request_seconds_bucket":
                    bound = float(sample.labels["le"])
                    latency[bound] = latency.get(bound, 0.0) + sample.value
                elif sample.name == "mlops_inference_batch_size_sum":
                    batch_sum += sample.value
                elif sample.name == "mlops_inference_batch_size_count":
                    batch_count += sample.value
                elif sample.name == "mlops_inference_queue_seconds_sum":
                    queue_sum += sample.value
                elif sample.name == "mlops_inference_queue_seconds_count":
                    queue_count += sample.value
        return ModelSummary(
            requests=requests,
            errors=errors,
            latency_p50_ms=_quantile(latency, 0.5) * 1000,
            latency_p99_ms=_quantile(latency, 0.99) * 1000,
            mean_batch_size=batch_sum / batch_count if batch_count else 0.0,
            mean_queue_time_ms=queue_sum / queue_count * 1000 if queue_count else 0.0,
        )

    def asgi_app(self) -> ASGIApp:
        return make_asgi_app(self.registry)


def _quantile(cumulative: dict[float, float], q: float) -> float:
    bounds = sorted(cumulative)
    if not bounds or cumulative[bounds[-1]] == 0:
        return 0.0
    target = q * cumulative[bounds[-1]]
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = cumulative[bound]
        if count >= target:
            if bound == float("inf"):
                return lower_bound
            share = (target - lower_count) / (count - lower_count) if count > lower_count else 1.0
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return lower_bound
