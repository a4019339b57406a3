"""Starts a real gateway (uvicorn + identity gRPC) in the test's event loop, on free loopback ports.

Shared by the gateway's test modules; it holds no tests itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from mlops.stack.ports import free_port
from services.gateway.main import Gateway
from services.gateway.settings import GatewaySettings


def gateway_settings(data_dir: Path, **overrides: Any) -> GatewaySettings:
    """Settings on free ports; the four domain services point at ports where nothing listens."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "http_port": free_port(),
        "identity_address": f"127.0.0.1:{free_port()}",
        "dataset_address": f"127.0.0.1:{free_port()}",
        "training_address": f"127.0.0.1:{free_port()}",
        "registry_address": f"127.0.0.1:{free_port()}",
        "serving_address": f"127.0.0.1:{free_port()}",
        "health_timeout_seconds": 0.5,
        "log_json": False,
    }
    values.update(overrides)
    return GatewaySettings(**values)


@asynccontextmanager
async def running_gateway(settings: GatewaySettings) -> AsyncIterator[Gateway]:
    gateway = Gateway(settings)
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()


def admin_token(settings: GatewaySettings) -> str:
    return (settings.data_dir / "admin.token").read_text().strip()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def http_client(gateway: Gateway, token: str | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gateway.http_url, headers=bearer(token) if token else {}, timeout=10)


async def create_token(gateway: Gateway, role: str, **fields: Any) -> dict[str, Any]:
    async with http_client(gateway, admin_token(gateway.settings)) as client:
        response = await client.post("/api/v1/tokens", json={"role": role, **fields})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@asynccontextmanager
async def grpc_health_server(address: str) -> AsyncIterator[None]:
    """A real grpc.health.v1 server answering SERVING, standing in for a domain service."""
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_insecure_port(address)
    await server.start()
    await servicer.set(health.OVERALL_HEALTH, health_pb2.HealthCheckResponse.SERVING)
    try:
        yield
    finally:
        await server.stop(None)
