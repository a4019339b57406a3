"""ASGI middleware opening a server span per HTTP request, continuing the caller's W3C trace, so logs
and audit rows of the request carry its trace id."""

from __future__ import annotations

from opentelemetry import trace
from starlette.types import ASGIApp, Receive, Scope, Send

from mlops.kernel.grpcx.tracing import extract_context

tracer = trace.get_tracer("mlops.gateway.http")


class TracingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]]
        name = f"{scope['method']} {scope['path']}"
        with tracer.start_as_current_span(name, context=extract_context(headers), kind=trace.SpanKind.SERVER):
            await self.app(scope, receive, send)
