"""W3C trace context over gRPC metadata: extracted by servers, injected by clients."""

from __future__ import annotations

from collections.abc import Iterable, MutableSequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()
tracer = trace.get_tracer("mlops.grpc")


def extract_context(metadata: Iterable[tuple[str, Any]] | None) -> otel_context.Context:
    carrier = {key: value for key, value in (metadata or ()) if isinstance(value, str)}
    return _PROPAGATOR.extract(carrier)


def inject_metadata(metadata: MutableSequence[tuple[str, str]]) -> None:
    """Append the current span's traceparent (and tracestate) to outgoing metadata."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    metadata.extend(carrier.items())


def current_trace_id() -> str:
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else ""
