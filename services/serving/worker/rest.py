"""KServe V2 REST adapter (the health and metadata endpoints; inference arrives with model hosting)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.serving.worker.model_host import ModelHost, ModelNotFound


def _status(ok: bool) -> Response:
    # The protocol answers health with a bare status code; a body would add nothing.
    return Response(status_code=200 if ok else 503)


def rest_app(host: ModelHost) -> Starlette:
    async def live(request: Request) -> Response:
        return _status(host.live())

    async def ready(request: Request) -> Response:
        return _status(host.ready())

    async def server_metadata(request: Request) -> Response:
        metadata = host.server_metadata()
        return JSONResponse(
            {"name": metadata.name, "version": metadata.version, "extensions": list(metadata.extensions)}
        )

    def _model(request: Request) -> tuple[str, str]:
        return request.path_params["name"], request.path_params.get("version", "")

    async def model_ready(request: Request) -> Response:
        name, version = _model(request)
        if host.model_ready(name, version):
            return Response(status_code=200)
        return JSONResponse({"error": f"model {name!r} is not ready"}, status_code=404)

    async def model_metadata(request: Request) -> Response:
        name, version = _model(request)
        try:
            metadata = host.model_metadata(name, version)
        except ModelNotFound as error:
            return JSONResponse({"error": str(error)}, status_code=404)

        def tensors(specs: tuple) -> list[dict[str, object]]:  # type: ignore[type-arg]
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
        # JSON tensor decoding arrives with model hosting; an unknown model is NOT_FOUND before that.
        if not host.model_ready(name, version):
            return JSONResponse({"error": f"model {name!r} is not loaded on this worker"}, status_code=404)
        return JSONResponse({"error": "JSON inference is not supported yet"}, status_code=501)

    return Starlette(
        routes=[
            Route("/v2/health/live", live),
            Route("/v2/health/ready", ready),
            Route("/v2", server_metadata),
            Route("/v2/models/{name}/ready", model_ready),
            Route("/v2/models/{name}/versions/{version}/ready", model_ready),
            Route("/v2/models/{name}", model_metadata),
            Route("/v2/models/{name}/versions/{version}", model_metadata),
            Route("/v2/models/{name}/infer", infer, methods=["POST"]),
            Route("/v2/models/{name}/versions/{version}/infer", infer, methods=["POST"]),
        ]
    )
