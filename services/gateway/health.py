"""Rolls the platform's gRPC health checks up into one answer for /healthz."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mlops.kernel.grpcx.tls import aio_channel
from mlops.kernel.settings import TlsSettings

HEALTHY = "healthy"
DEGRADED = "degraded"
UNHEALTHY = "unhealthy"


@dataclass(frozen=True)
class ComponentHealth:
    status: str
    detail: str
    address: str


@dataclass(frozen=True)
class PlatformHealth:
    status: str
    components: dict[str, ComponentHealth]


class HealthChecker:
    """Keeps one channel per address, so a probe every few seconds does not reconnect each time."""

    def __init__(
        self, addresses: Mapping[str, str], timeout: float = 1.0, *, tls: TlsSettings | None = None
    ) -> None:
        self.addresses = dict(addresses)
        self.timeout = timeout
        self.tls = tls
        self._channels: dict[str, grpc.aio.Channel] = {}

    def _channel(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = aio_channel(address, self.tls)
            self._channels[address] = channel
        return channel

    async def check_one(self, address: str) -> ComponentHealth:
        stub = health_pb2_grpc.HealthStub(self._channel(address))
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            # A channel that failed waits out a growing reconnect backoff; a fresh one next time
            # notices at once that the service has come (back) up.
            await self._discard(address)
            return ComponentHealth(UNHEALTHY, f"{exc.code().name}: {exc.details() or ''}".strip(), address)
        status_name = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        healthy = reply.status == health_pb2.HealthCheckResponse.SERVING
        return ComponentHealth(HEALTHY if healthy else UNHEALTHY, status_name, address)

    async def _discard(self, address: str) -> None:
        channel = self._channels.pop(address, None)
        if channel is not None:
            await channel.close()

    async def check(self) -> PlatformHealth:
        names = list(self.addresses)
        results = await asyncio.gather(*(self.check_one(self.addresses[name]) for name in names))
        components = dict(zip(names, results, strict=True))
        return PlatformHealth(rollup([c.status for c in results]), components)

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        await asyncio.gather(*(channel.close() for channel in channels))


def rollup(statuses: list[str]) -> str:
    """Healthy when all are, unhealthy when none is, degraded in between."""
    healthy = sum(status == HEALTHY for status in statuses)
    if healthy == len(statuses):
        return HEALTHY
    return UNHEALTHY if healthy == 0 else DEGRADED
