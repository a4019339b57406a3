"""Wires the serving worker: gRPC (grpc.aio), REST and metrics (uvicorn) in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
import socket
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

import grpc
import uvicorn
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from starlette.types import ASGIApp

from mlops.api.inference import grpc_service_pb2_grpc as pb_grpc
from mlops.kernel.grpcx.tls import add_port
from mlops.kernel.identity_client import TokenVerifier
from mlops.kernel.logging import configure_logging
from mlops.kernel.objectstore import ObjectStore
from services.serving.inference.auth import InvokeAuthorizer
from services.serving.inference.handler import InferenceHandler
from services.serving.inference.metrics import InferenceMetrics
from services.serving.worker.bundles import BundleSource
from services.serving.worker.control import ControlPlaneLink, worker_description
from services.serving.worker.grpc_servicer import InferenceServicer
from services.serving.worker.model_host import ModelHost, OnnxModelHost
from services.serving.worker.replica import Batching, ModelSpec
from services.serving.worker.request_log import RequestLogger
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


def authorizer_from(settings: ServingWorkerSettings) -> InvokeAuthorizer:
    if not settings.inference_auth:
        logger.warning("inference authentication is off: every model answers anyone")
        return InvokeAuthorizer(None)
    return InvokeAuthorizer(TokenVerifier(settings.identity_address, tls=settings.tls))


def startup_models(settings: ServingWorkerSettings) -> list[ModelSpec]:
    batching = Batching(settings.inference_max_batch_size, settings.inference_max_queue_delay_us / 1e6)
    specs = []
    for item in filter(None, (part.strip() for part in settings.inference_models.split(","))):
        name, _, bundle = item.partition("=")
        specs.append(
            ModelSpec(
                name=name,
                bundle=bundle,
                public=settings.inference_public_models,
                device=settings.inference_device,
                threads=settings.inference_model_threads or None,
                batching=batching,
            )
        )
    return specs


async def serve(
    settings: ServingWorkerSettings,
    host: ModelHost,
    stop: asyncio.Event,
    *,
    authorizer: InvokeAuthorizer | None = None,
    metrics: InferenceMetrics | None = None,
    request_log: RequestLogger | None = None,
) -> None:
    metrics = metrics or InferenceMetrics()
    authorizer = authorizer or authorizer_from(settings)
    handler = InferenceHandler(
        host,
        authorizer,
        metrics,
        max_request_bytes=settings.inference_max_request_bytes,
        request_log=request_log,
    )
    # gRPC's own limit sits above ours, so an oversize request gets our INVALID_ARGUMENT with the reason.
    limit = 2 * settings.inference_max_request_bytes + 1024 * 1024
    server = grpc.aio.server(
        options=[("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)]
    )
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceServicer(handler), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    address = f"{settings.inference_host}:{settings.inference_grpc_port}"
    add_port(server, address, settings.tls)
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)

    http_servers = [
        _http_server(rest_app(handler), settings.inference_host, settings.inference_rest_port),
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
    if authorizer.verifier is not None:
        await authorizer.verifier.close()


async def _run(settings: ServingWorkerSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # Assigned bundles come from the object store (ObjectStore connects only when first used), and
    # sampled requests go there.
    objects = ObjectStore(settings.s3)
    source = BundleSource(objects)
    host = OnnxModelHost(source=source, pool_threads=settings.inference_pool_threads)
    for spec in startup_models(settings):
        status = await host.load(spec)
        if status.state != "ready":
            logger.error("model %s failed to load: %s", spec.name, status.reason)
    link_task = None
    # Shared with the control-plane link, which reports each model's traffic in its heartbeats.
    metrics = InferenceMetrics()
    # Started on the first flush only: a worker whose deployments log nothing never spawns it.
    encoder = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    request_log = RequestLogger(
        objects,
        settings.worker_id or socket.gethostname(),
        registry=metrics.registry,
        encoder=encoder,
        flush_records=settings.request_log_flush_records,
        flush_seconds=settings.request_log_flush_seconds,
        max_buffer_records=settings.request_log_buffer_records,
        max_buffer_bytes=settings.request_log_buffer_bytes,
    )
    request_log.start()
    if settings.serving_control_address:
        link = ControlPlaneLink(
            host,
            settings.serving_control_address,
            worker_description(settings),
            device=settings.inference_device,
            token=settings.service_token.get_secret_value() if settings.service_token else None,
            tls=settings.tls,
            metrics=metrics,
            request_log=request_log,
        )
        link_task = asyncio.create_task(link.run(stop))
    try:
        await serve(settings, host, stop, metrics=metrics, request_log=request_log)
    finally:
        if link_task is not None:
            await link_task
        await request_log.close()
        encoder.shutdown(wait=False, cancel_futures=True)
        await host.close()


def main() -> None:
    settings = ServingWorkerSettings()
    configure_logging("serving-worker", settings.log_level, settings.log_json)
    if settings.inference_uvloop:
        import uvloop

        uvloop.run(_run(settings))
    else:
        asyncio.run(_run(settings))
