"""Telemetry setup: exporters only when configured, a Prometheus endpoint when a port is given."""

from __future__ import annotations

import urllib.request

from mlops.kernel.telemetry import setup_telemetry


def test_no_endpoint_without_a_metrics_port() -> None:
    telemetry = setup_telemetry("unit", install_global=False)
    try:
        assert telemetry.metrics_port == 0
        span = telemetry.tracer_provider.get_tracer("t").start_span("s")
        # Spans get ids (logs and audit rows use them) though nothing is exported.
        assert span.get_span_context().is_valid
        span.end()
    finally:
        telemetry.shutdown()


def test_prometheus_endpoint_serves_recorded_metrics() -> None:
    telemetry = setup_telemetry("unit", metrics_port=-1, install_global=False)
    try:
        counter = telemetry.meter_provider.get_meter("t").create_counter("unit_things", unit="1")
        counter.add(3, {"kind": "test"})
        with urllib.request.urlopen(f"http://127.0.0.1:{telemetry.metrics_port}/metrics", timeout=5) as reply:
            body = reply.read().decode()
        assert "unit_things" in body
    finally:
        telemetry.shutdown()
