"""gRPC adapter of the registry service: models, versions, lineage, model cards, stages, approvals."""

from __future__ import annotations

from collections.abc import Iterable

from mlops.api.registry.v1 import registry_pb2, registry_pb2_grpc
from mlops.kernel.runtime import ServiceRuntime


class RegistryServiceApi(registry_pb2_grpc.RegistryServiceServicer):
    """RegistryService: methods not overridden here answer UNIMPLEMENTED until their issue lands."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime


def register(runtime: ServiceRuntime) -> Iterable[str]:
    """Adds the servicers to the runtime's server; returns their full service names."""
    server = runtime.server
    assert server is not None
    registry_pb2_grpc.add_RegistryServiceServicer_to_server(RegistryServiceApi(runtime), server)
    return [registry_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name]
