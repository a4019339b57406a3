"""Wires the serving worker: gRPC (grpc.aio), REST and metrics (uvicorn) in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

import grpc
import uvicorn
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from starlette.types import ASGIApp

from mlops.api.inference import grpc_service_pb2_grpc as pb_grpc
from mlops.kernel.logging import configure_logging
from services.serving.worker.grpc_servicer import InferenceServicer
from services.serving.worker.metrics import InferenceMetrics
from services.serving.worker.model_host import EmptyModelHost, ModelHost
from services.serving.worker.rest import rest_app
from services.serving.worker.settings import ServingWorkerSettings

logger = logging.getLogger("mlops.serving.worker")


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server sharing the loop: the worker, not uvicorn, owns the process's signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _http_server(app: ASGIApp, host: str, port: int) -> _EmbeddedServer:
    config = uvicorn.Config(
        app, host=host, port=port, lifespan="off", log_config=None, access_log=False, loop="none"
    )
    return _EmbeddedServer(config)


async def serve(settings: ServingWorkerSettings, host: ModelHost, stop: asyncio.Event) -> None:
    metrics = InferenceMetrics()
    server = grpc.aio.server()
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceServicer(host, metrics), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    address = f"{settings.inference_host}:{settings.inference_grpc_port}"
    server.add_insecure_port(address)
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)

    http_servers = [
        _http_server(rest_app(host), settings.inference_host, settings.inference_rest_port),
        _http_server(metrics.asgi_app(), settings.inference_host, settings.inference_metrics_port),
    ]
    tasks = [asyncio.create_task(s.serve()) for s in http_servers]
    logger.info(
        "serving worker ready",
        extra={
            "fields": {
                "grpc": address,
                "rest_port": settings.inference_rest_port,
                "metrics_port": settings.inference_metrics_port,
            }
        },
    )
    stopped = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
    if stopped not in done:
        logger.error("an HTTP listener stopped on its own; shutting the worker down")
    for http in http_servers:
        http.should_exit = True
    await health_servicer.enter_graceful_shutdown()
    await server.stop(grace=5)
    await asyncio.gather(*tasks, return_exceptions=True)
    stopped.cancel()


async def _run(settings: ServingWorkerSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve(settings, EmptyModelHost(), stop)


def main() -> None:
    settings = ServingWorkerSettings()
    configure_logging("serving-worker", settings.log_level, settings.log_json)
    asyncio.run(_run(settings))
