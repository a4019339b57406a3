"""OpenTelemetry traces and metrics for one process.

Spans always get ids (logs and audit rows carry them, and incoming trace context is continued), but
they leave the process only when an OTLP endpoint is configured. Metrics go to the OTLP endpoint when
configured and to a Prometheus scrape endpoint when `metrics_port` is set. Exporters are imported
only when used: they pull in modules a process without them need not load.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger(__name__)

# Exporting every minute keeps an idle process idle.
METRIC_EXPORT_INTERVAL_MS = 60_000
# An absent collector must not hold up shutdown for long: the last batch is given this long.
EXPORT_TIMEOUT_SECONDS = 2


@dataclass
class Telemetry:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    metrics_port: int = 0
    _http_server: Any = field(default=None, repr=False)

    def shutdown(self) -> None:
        if self._http_server is not None:
            self._http_server.shutdown()
            self._http_server.server_close()
        self.meter_provider.shutdown()
        self.tracer_provider.shutdown()


def _otlp_span_processor(endpoint: str) -> Any:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    return BatchSpanProcessor(
        OTLPSpanExporter(endpoint=endpoint, insecure=True, timeout=EXPORT_TIMEOUT_SECONDS)
    )


def _otlp_metric_reader(endpoint: str) -> MetricReader:
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    return PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=endpoint, insecure=True, timeout=EXPORT_TIMEOUT_SECONDS),
        export_interval_millis=METRIC_EXPORT_INTERVAL_MS,
    )


def _prometheus(host: str, port: int) -> tuple[MetricReader, Any, int]:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import start_http_server

    reader = PrometheusMetricReader()
    server, _thread = start_http_server(port, addr=host)
    return reader, server, int(server.server_port)


def setup_telemetry(
    service: str,
    *,
    otlp_endpoint: str | None = None,
    metrics_port: int = 0,
    metrics_host: str = "127.0.0.1",
    install_global: bool = True,
) -> Telemetry:
    """Configure this process's providers. `metrics_port` 0 means no Prometheus endpoint; -1 asks for
    any free port (tests), reported back as `Telemetry.metrics_port`."""
    resource = Resource.create({"service.name": f"mlops-{service}", "service.namespace": "mlops"})
    tracer_provider = TracerProvider(resource=resource)
    readers: list[MetricReader] = []
    if otlp_endpoint:
        tracer_provider.add_span_processor(_otlp_span_processor(otlp_endpoint))
        readers.append(_otlp_metric_reader(otlp_endpoint))
    http_server = None
    bound_port = 0
    if metrics_port:
        reader, http_server, bound_port = _prometheus(metrics_host, max(metrics_port, 0))
        readers.append(reader)
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    if install_global:
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(meter_provider)
    log.info(
        "telemetry configured",
        extra={"fields": {"otlp_endpoint": otlp_endpoint or "", "metrics_port": bound_port}},
    )
    return Telemetry(tracer_provider, meter_provider, bound_port, http_server)
