"""gRPC adapter of the serving service: deployments, revisions, traffic and the worker pool."""

from __future__ import annotations

from collections.abc import Iterable

from mlops.api.serving.v1 import serving_pb2, serving_pb2_grpc
from mlops.kernel.runtime import ServiceRuntime


class ServingServiceApi(serving_pb2_grpc.ServingServiceServicer):
    """ServingService: methods not overridden here answer UNIMPLEMENTED until their issue lands."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime


class WorkerRegistryApi(serving_pb2_grpc.WorkerRegistryServicer):
    """WorkerRegistry: methods not overridden here answer UNIMPLEMENTED until their issue lands."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime


def register(runtime: ServiceRuntime) -> Iterable[str]:
    """Adds the servicers to the runtime's server; returns their full service names."""
    server = runtime.server
    assert server is not None
    serving_pb2_grpc.add_ServingServiceServicer_to_server(ServingServiceApi(runtime), server)
    serving_pb2_grpc.add_WorkerRegistryServicer_to_server(WorkerRegistryApi(runtime), server)
    return [
        serving_pb2.DESCRIPTOR.services_by_name["ServingService"].full_name,
        serving_pb2.DESCRIPTOR.services_by_name["WorkerRegistry"].full_name,
    ]
