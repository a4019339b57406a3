"""gRPC adapter of the dataset service: datasets, samples, annotations and versions."""

from __future__ import annotations

from collections.abc import Iterable

from mlops.api.dataset.v1 import dataset_pb2, dataset_pb2_grpc
from mlops.kernel.runtime import ServiceRuntime


class DatasetServiceApi(dataset_pb2_grpc.DatasetServiceServicer):
    """DatasetService: methods not overridden here answer UNIMPLEMENTED until their issue lands."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime


def register(runtime: ServiceRuntime) -> Iterable[str]:
    """Adds the servicers to the runtime's server; returns their full service names."""
    server = runtime.server
    assert server is not None
    dataset_pb2_grpc.add_DatasetServiceServicer_to_server(DatasetServiceApi(runtime), server)
    return [dataset_pb2.DESCRIPTOR.services_by_name["DatasetService"].full_name]
