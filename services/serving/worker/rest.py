"""KServe V2 REST adapter (/v2/...), with Triton's binary tensor extension, and the scenario-level
predict endpoint. Converts JSON (and binary) bodies to `InferenceHandler` calls and back."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mlops.kernel.errors import DomainError, InvalidArgument
from services.serving.inference import codec
from services.serving.inference.handler import InferenceHandler
from services.serving.inference.types import InferenceRequest, InferenceResponse, Tensor

HEADER_LENGTH = "inference-header-content-length"
Endpoint = Callable[[Request], Awaitable[Response]]


def _status(ok: bool) -> Response:
    # The protocol answers health with a bare status code; a body would add nothing.
    return Response(status_code=200 if ok else 503)


def _error(error: DomainError) -> JSONResponse:
    return JSONResponse({"error": str(error)}, status_code=error.http_status)


def _mapped(endpoint: Endpoint) -> Endpoint:
    async def call(request: Request) -> Response:
        try:
            return await endpoint(request)
        except DomainError as error:
            return _error(error)

    return call


async def _json_and_binary(request: Request, handler: InferenceHandler) -> tuple[dict[str, Any], bytes]:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit():
        handler.check_size(int(length))
    body = await request.body()
    handler.check_size(len(body))
    header_length = request.headers.get(HEADER_LENGTH)
    split = len(body)
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise InvalidArgument(f"bad {HEADER_LENGTH} {header_length!r}", field=HEADER_LENGTH)
        split = int(header_length)
    try:
        document = json.loads(body[:split])
    except ValueError as error:
        raise InvalidArgument(f"the body is not JSON: {error}", field="body") from None
    if not isinstance(document, dict):
        raise InvalidArgument("the body is a JSON object", field="body")
    return document, body[split:]


def _decode_inputs(document: dict[str, Any], binary: bytes) -> list[Tensor]:
    tensors, offset = [], 0
    inputs = document.get("inputs")
    if not isinstance(inputs, list):
        raise InvalidArgument("'inputs' is a list of tensors", field="inputs")
    for entry in inputs:
        try:
            name, datatype, shape = entry["name"], entry["datatype"], tuple(int(d) for d in entry["shape"])
        except (KeyError, TypeError, ValueError):
            raise InvalidArgument("each input has name, datatype and shape", field="inputs") from None
        size = (entry.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            if offset + int(size) > len(binary):
                raise InvalidArgument("binary data shorter than binary_data_size", field=name)
            array = codec.from_raw(name, datatype, shape, binary[offset : offset + int(size)])
            offset += int(size)
        elif "data" in entry:
            data = entry["data"]
            array = codec.from_values(name, datatype, shape, data if isinstance(data, list) else [data])
        else:
            raise InvalidArgument("input has neither data nor binary_data_size", field=name)
        tensors.append(Tensor(name, datatype, shape, array))
    return tensors


def _binary_outputs(document: dict[str, Any]) -> tuple[list[str], set[str], bool]:
    """Requested output names, those asked for as binary, and the request-wide binary default."""
    requested, binary = [], set()
    for entry in document.get("outputs") or []:
        requested.append(entry["name"])
        if (entry.get("parameters") or {}).get("binary_data"):
            binary.add(entry["name"])
    default = bool((document.get("parameters") or {}).get("binary_data_output", False))
    return requested, binary, default


def _encode_response(response: InferenceResponse, binary: set[str], binary_default: bool) -> Response:
    outputs, chunks = [], []
    for tensor in response.outputs:
        entry: dict[str, Any] = {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": list(tensor.shape),
        }
        if tensor.name in binary or binary_default:
            chunk = codec.to_raw(tensor.array, tensor.datatype)
            entry["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            entry["data"] = codec.to_values(tensor.array, tensor.datatype)
        outputs.append(entry)
    document = {
        "model_name": response.model_name,
        "model_version": response.model_version,
        "outputs": outputs,
    }
    if response.id:
        document["id"] = response.id
    header = json.dumps(document, separators=(",", ":")).encode()
    if not chunks:
        return Response(header, media_type="application/json")
    return Response(
        b"".join([header, *chunks]),
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(header))},
    )


def _instances(document: dict[str, Any]) -> list[Any]:
    """Human-friendly inputs: `instances` (a list) or `input` (one); {"b64": ...} stands for bytes."""
    if "instances" in document and isinstance(document["instances"], list):
        values = document["instances"]
    elif "input" in document:
        values = [document["input"]]
    else:
        raise InvalidArgument("send 'instances' (a list) or 'input'", field="instances")
    return [_unwrap(v) for v in values]


def _unwrap(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"b64"}:
        try:
            return base64.b64decode(value["b64"], validate=True)
        except ValueError:
            raise InvalidArgument("'b64' is not base64", field="instances") from None
    return value


def rest_app(handler: InferenceHandler) -> Starlette:
    async def live(request: Request) -> Response:
        return _status(handler.live())

    async def ready(request: Request) -> Response:
        return _status(handler.ready())

    async def server_metadata(request: Request) -> Response:
        metadata = handler.server_metadata()
        return JSONResponse(
            {"name": metadata.name, "version": metadata.version, "extensions": list(metadata.extensions)}
        )

    def _model(request: Request) -> tuple[str, str]:
        return request.path_params["name"], request.path_params.get("version", "")

    async def model_ready(request: Request) -> Response:
        name, version = _model(request)
        if handler.model_ready(name, version):
            return Response(status_code=200)
        return JSONResponse({"error": f"model {name!r} is not ready"}, status_code=404)

    async def model_metadata(request: Request) -> Response:
        metadata = handler.model_metadata(*_model(request))

        def tensors(specs: tuple[Any, ...]) -> list[dict[str, Any]]:
            return [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in specs]

        return JSONResponse(
            {
                "name": metadata.name,
                "versions": list(metadata.versions),
                "platform": metadata.platform,
                "inputs": tensors(metadata.inputs),
                "outputs": tensors(metadata.outputs),
            }
        )

    async def infer(request: Request) -> Response:
        name, version = _model(request)
        document, binary = await _json_and_binary(request, handler)
        requested, binary_outputs, binary_default = _binary_outputs(document)
        response = await handler.infer(
            InferenceRequest(
                model_name=name,
                model_version=version,
                id=str(document.get("id", "")),
                inputs=_decode_inputs(document, binary),
                requested_outputs=requested,
                authorization=request.headers.get("authorization"),
            ),
            "rest",
        )
        return _encode_response(response, binary_outputs, binary_default)

    async def predict(request: Request) -> Response:
        name, version = _model(request)
        document, _ = await _json_and_binary(request, handler)
        served, results = await handler.predict(
            name, version, _instances(document), request.headers.get("authorization"), "rest"
        )
        return JSONResponse({"model_name": name, "model_version": served, "predictions": results})

    routes = [
        Route("/v2/health/live", live),
        Route("/v2/health/ready", ready),
        Route("/v2", server_metadata),
        Route("/v2/models/{name}/ready", model_ready),
        Route("/v2/models/{name}/versions/{version}/ready", model_ready),
        Route("/v2/models/{name}", _mapped(model_metadata)),
        Route("/v2/models/{name}/versions/{version}", _mapped(model_metadata)),
        Route("/v2/models/{name}/infer", _mapped(infer), methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}/infer", _mapped(infer), methods=["POST"]),
        Route("/v2/models/{name}/predict", _mapped(predict), methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}/predict", _mapped(predict), methods=["POST"]),
    ]
    return Starlette(routes=routes)
