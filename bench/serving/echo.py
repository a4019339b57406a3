"""The transport floor: a bare grpcio aio server answering ModelInfer with a fixed, valid response of
the real response's size, without parsing the request.

    python bench/serving/echo.py <port> <output name> <output shape, comma separated>
"""

from __future__ import annotations

import asyncio
import sys

import grpc
import numpy as np
from tritonclient.grpc import service_pb2


def _response(name: str, shape: list[int]) -> bytes:
    data = np.zeros(shape, dtype=np.float32)
    return service_pb2.ModelInferResponse(
        model_name="echo",
        model_version="1",
        outputs=[service_pb2.ModelInferResponse.InferOutputTensor(name=name, datatype="FP32", shape=shape)],
        raw_output_contents=[data.tobytes()],
    ).SerializeToString()


async def serve(port: int, answer: bytes) -> None:
    async def infer(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return answer

    handler = grpc.method_handlers_generic_handler(
        "inference.GRPCInferenceService",
        {"ModelInfer": grpc.unary_unary_rpc_method_handler(infer)},  # bytes in, bytes out
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def main() -> None:
    port, name, shape = sys.argv[1:4]
    asyncio.run(serve(int(port), _response(name, [int(d) for d in shape.split(",")])))


if __name__ == "__main__":
    main()
