"""gRPC adapter of the training service: training runs, their parameters, metrics, logs and artifacts."""

from __future__ import annotations

from collections.abc import Iterable

from mlops.api.training.v1 import training_pb2, training_pb2_grpc
from mlops.kernel.runtime import ServiceRuntime


class TrainingServiceApi(training_pb2_grpc.TrainingServiceServicer):
    """TrainingService: methods not overridden here answer UNIMPLEMENTED until their issue lands."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime


def register(runtime: ServiceRuntime) -> Iterable[str]:
    """Adds the servicers to the runtime's server; returns their full service names."""
    server = runtime.server
    assert server is not None
    training_pb2_grpc.add_TrainingServiceServicer_to_server(TrainingServiceApi(runtime), server)
    return [training_pb2.DESCRIPTOR.services_by_name["TrainingService"].full_name]
