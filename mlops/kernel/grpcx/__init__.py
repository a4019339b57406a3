"""The shared gRPC layer: server bootstrap, interceptors, error mapping, tracing and client channels."""

from mlops.kernel.grpcx.client import open_channel
from mlops.kernel.grpcx.context import principal, require
from mlops.kernel.grpcx.interceptors import ServerInterceptor
from mlops.kernel.grpcx.policy import MethodPolicy, idempotent_methods
from mlops.kernel.grpcx.server import add_health, create_server, enable_reflection, set_health
from mlops.kernel.grpcx.status import status_of

__all__ = [
    "MethodPolicy",
    "ServerInterceptor",
    "add_health",
    "create_server",
    "enable_reflection",
    "idempotent_methods",
    "open_channel",
    "principal",
    "require",
    "set_health",
    "status_of",
]
