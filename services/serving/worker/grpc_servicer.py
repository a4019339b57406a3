"""KServe V2 gRPC adapter: converts protobuf messages to `ModelHost` calls and back."""

from __future__ import annotations

import time
from typing import NoReturn

import grpc

from mlops.api.inference import grpc_service_pb2 as pb
from mlops.api.inference import grpc_service_pb2_grpc as pb_grpc
from services.serving.worker.metrics import InferenceMetrics
from services.serving.worker.model_host import (
    InferenceRequest,
    InferenceResponse,
    ModelHost,
    ModelNotFound,
    Tensor,
)


def _request_from_proto(request: pb.ModelInferRequest) -> InferenceRequest:
    raw = list(request.raw_input_contents)
    inputs = [
        Tensor(
            name=tensor.name,
            datatype=tensor.datatype,
            shape=tuple(tensor.shape),
            data=raw[index] if index < len(raw) else b"",
        )
        for index, tensor in enumerate(request.inputs)
    ]
    return InferenceRequest(
        model_name=request.model_name,
        model_version=request.model_version,
        id=request.id,
        inputs=inputs,
        requested_outputs=[output.name for output in request.outputs],
    )


def _response_to_proto(response: InferenceResponse) -> pb.ModelInferResponse:
    # Outputs travel as raw bytes: tritonclient's as_numpy reads only raw_output_contents.
    return pb.ModelInferResponse(
        model_name=response.model_name,
        model_version=response.model_version,
        id=response.id,
        outputs=[
            pb.ModelInferResponse.InferOutputTensor(name=t.name, datatype=t.datatype, shape=list(t.shape))
            for t in response.outputs
        ],
        raw_output_contents=[t.data for t in response.outputs],
    )


async def _not_found(context: grpc.aio.ServicerContext, error: ModelNotFound) -> NoReturn:
    await context.abort(grpc.StatusCode.NOT_FOUND, str(error))
    raise AssertionError("abort() raises")  # for the type checker: abort never returns


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, host: ModelHost, metrics: InferenceMetrics) -> None:
        self.host = host
        self.metrics = metrics

    async def ServerLive(
        self, request: pb.ServerLiveRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=self.host.live())

    async def ServerReady(
        self, request: pb.ServerReadyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.host.ready())

    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerMetadataResponse:
        metadata = self.host.server_metadata()
        return pb.ServerMetadataResponse(
            name=metadata.name, version=metadata.version, extensions=list(metadata.extensions)
        )

    async def ModelReady(
        self, request: pb.ModelReadyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelReadyResponse:
        return pb.ModelReadyResponse(ready=self.host.model_ready(request.name, request.version))

    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelMetadataResponse:
        try:
            metadata = self.host.model_metadata(request.name, request.version)
        except ModelNotFound as error:
            await _not_found(context, error)
        spec = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=metadata.name,
            versions=list(metadata.versions),
            platform=metadata.platform,
            inputs=[spec(name=t.name, datatype=t.datatype, shape=list(t.shape)) for t in metadata.inputs],
            outputs=[spec(name=t.name, datatype=t.datatype, shape=list(t.shape)) for t in metadata.outputs],
        )

    async def ModelInfer(
        self, request: pb.ModelInferRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInferResponse:
        started = time.perf_counter()
        code = "OK"
        try:
            response = await self.host.infer(_request_from_proto(request))
            return _response_to_proto(response)
        except ModelNotFound as error:
            code = "NOT_FOUND"
            await _not_found(context, error)
        finally:
            self.metrics.observe("grpc", "infer", request.model_name, code, time.perf_counter() - started)
