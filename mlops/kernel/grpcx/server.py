"""gRPC server bootstrap: the interceptor, health checking and reflection."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from mlops.kernel.audit import AuditRecorder
from mlops.kernel.grpcx.client import MAX_MESSAGE_BYTES
from mlops.kernel.grpcx.interceptors import ServerInterceptor, Verifier
from mlops.kernel.grpcx.policy import MethodPolicy

HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def create_server(
    policy: MethodPolicy,
    verifier: Verifier,
    recorder: AuditRecorder | None,
    *,
    options: Sequence[tuple[str, Any]] = (),
) -> grpc.aio.Server:
    server_options = [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        # Idle clients keep their channels; answer their keepalive pings without tearing down.
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        *options,
    ]
    return grpc.aio.server(
        interceptors=[ServerInterceptor(policy, verifier, recorder)], options=server_options
    )


def add_health(server: grpc.aio.Server) -> health.aio.HealthServicer:
    """Health checking, NOT_SERVING until the caller says otherwise."""
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    return servicer


async def set_health(servicer: health.aio.HealthServicer, services: Iterable[str], status: int) -> None:
    """Set the overall ("") status and each named service's."""
    for name in ("", *services):
        await servicer.set(name, status)


def enable_reflection(server: grpc.aio.Server, services: Iterable[str]) -> None:
    names = [*services, HEALTH_SERVICE, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)
