"""KServe V2 gRPC adapter: protobuf messages to `InferenceHandler` calls and back."""

from __future__ import annotations

from typing import NoReturn

import grpc

from mlops.api.inference import grpc_service_pb2 as pb
from mlops.api.inference import grpc_service_pb2_grpc as pb_grpc
from mlops.kernel.errors import DomainError, InvalidArgument
from mlops.kernel.grpcx.status import status_of
from services.serving.inference import codec
from services.serving.inference.handler import InferenceHandler
from services.serving.inference.types import InferenceRequest, InferenceResponse, Tensor

# Which typed field of InferTensorContents carries each datatype (FP16 travels only as raw bytes).
_CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def _authorization(context: grpc.aio.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            return value if isinstance(value, str) else value.decode()
    return None


def _decode_inputs(request: pb.ModelInferRequest) -> list[Tensor]:
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise InvalidArgument(
            f"{len(raw)} raw_input_contents for {len(request.inputs)} inputs", field="raw_input_contents"
        )
    tensors = []
    for index, tensor in enumerate(request.inputs):
        shape = tuple(tensor.shape)
        if raw:
            array = codec.from_raw(tensor.name, tensor.datatype, shape, raw[index])
        else:
            field = _CONTENTS_FIELD.get(tensor.datatype)
            if field is None:
                raise InvalidArgument(f"{tensor.datatype} travels in raw_input_contents", field=tensor.name)
            values = getattr(tensor.contents, field)
            array = codec.from_values(tensor.name, tensor.datatype, shape, values)
        tensors.append(Tensor(tensor.name, tensor.datatype, shape, array))
    return tensors


def _response_to_proto(response: InferenceResponse) -> pb.ModelInferResponse:
    # Outputs travel as raw bytes: tritonclient's as_numpy reads only raw_output_contents.
    return pb.ModelInferResponse(
        model_name=response.model_name,
        model_version=response.model_version,
        id=response.id,
        outputs=[
            pb.ModelInferResponse.InferOutputTensor(name=t.name, datatype=t.datatype, shape=t.shape)
            for t in response.outputs
        ],
        raw_output_contents=[codec.to_raw(t.array, t.datatype) for t in response.outputs],
    )


async def _abort(context: grpc.aio.ServicerContext, error: BaseException) -> NoReturn:
    status = status_of(error)
    await context.abort(status.code, status.details, trailing_metadata=status.trailing_metadata)
    raise AssertionError("abort() raises")  # for the type checker: abort never returns


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, handler: InferenceHandler) -> None:
        self.handler = handler

    async def ServerLive(
        self, request: pb.ServerLiveRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=self.handler.live())

    async def ServerReady(
        self, request: pb.ServerReadyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.handler.ready())

    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerMetadataResponse:
        metadata = self.handler.server_metadata()
        return pb.ServerMetadataResponse(
            name=metadata.name, version=metadata.version, extensions=list(metadata.extensions)
        )

    async def ModelReady(
        self, request: pb.ModelReadyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelReadyResponse:
        return pb.ModelReadyResponse(ready=self.handler.model_ready(request.name, request.version))

    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelMetadataResponse:
        try:
            metadata = self.handler.model_metadata(request.name, request.version)
        except DomainError as error:
            await _abort(context, error)
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
        try:
            self.handler.check_size(sum(len(r) for r in request.raw_input_contents))
            response = await self.handler.infer(
                InferenceRequest(
                    model_name=request.model_name,
                    model_version=request.model_version,
                    id=request.id,
                    inputs=_decode_inputs(request),
                    requested_outputs=[output.name for output in request.outputs],
                    authorization=_authorization(context)
                    if self.handler.needs_token(request.model_name, request.model_version)
                    else None,
                ),
                "grpc",
            )
            return _response_to_proto(response)
        except DomainError as error:
            await _abort(context, error)
