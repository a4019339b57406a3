"""Health probes, described by a string so that stack.json can carry them to `mlops status`.

A probe is "<kind>:<target>": grpc-health:HOST:PORT (grpc.health.v1, service ""), kserve-live:HOST:PORT
(ServerLive), http:URL (2xx), tcp:HOST:PORT, redis:URL (PING), heartbeat:URL#KEY (a worker's key in
Redis, naming the expected pid when one is given). "A && B" passes when both do.
"""

from __future__ import annotations

import asyncio
import json

import grpc
import httpx
import redis.asyncio as aioredis
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mlops.api.inference import grpc_service_pb2, grpc_service_pb2_grpc
from mlops.kernel.grpcx.tls import aio_channel, process_tls
from mlops.kernel.settings import TlsSettings

PROBE_TIMEOUT_SECONDS = 2.0


async def _grpc_health(address: str, limit: float, tls: TlsSettings) -> tuple[bool, str]:
    async with aio_channel(address, tls) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=limit
        )
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return reply.status == health_pb2.HealthCheckResponse.SERVING, status


async def _kserve_live(address: str, limit: float, tls: TlsSettings) -> tuple[bool, str]:
    async with aio_channel(address, tls) as channel:
        stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
        reply = await stub.ServerLive(grpc_service_pb2.ServerLiveRequest(), timeout=limit)
    return reply.live, "live" if reply.live else "not live"


async def _http(url: str, limit: float) -> tuple[bool, str]:
    async with httpx.AsyncClient(timeout=limit, trust_env=False) as client:
        response = await client.get(url)
    return response.is_success, f"HTTP {response.status_code}"


async def _tcp(address: str, limit: float) -> tuple[bool, str]:
    host, _, port = address.rpartition(":")
    _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), limit)
    writer.close()
    await writer.wait_closed()
    return True, "accepting connections"


async def _redis(url: str, limit: float) -> tuple[bool, str]:
    client = aioredis.Redis.from_url(url, socket_timeout=limit, socket_connect_timeout=limit)
    try:
        return bool(await client.ping()), "PONG"
    finally:
        await client.aclose()


async def _heartbeat(target: str, pid: int | None, limit: float) -> tuple[bool, str]:
    url, _, key = target.partition("#")
    client = aioredis.Redis.from_url(url, socket_timeout=limit, socket_connect_timeout=limit)
    try:
        raw = await client.get(key)
    finally:
        await client.aclose()
    if raw is None:
        return False, "no heartbeat"
    beating = json.loads(raw).get("pid")
    # A key left by a previous process of the same worker id lives on for its TTL: not this one.
    if pid is not None and beating != pid:
        return False, f"heartbeat from pid {beating}, not {pid}"
    return True, "heartbeat"


async def probe(
    spec: str, pid: int | None = None, limit: float = PROBE_TIMEOUT_SECONDS, *, tls: TlsSettings | None = None
) -> tuple[bool, str]:
    """Runs a probe, or several joined by " && " (all must pass); never raises: a failure is (False, why).
    gRPC probes dial with `tls`, by default this process's MLOPS_TLS__* settings."""
    if " && " in spec:
        for part in spec.split(" && "):
            healthy, detail = await probe(part, pid, limit, tls=tls)
            if not healthy:
                return False, detail
        return True, detail
    kind, _, target = spec.partition(":")
    try:
        match kind:
            case "grpc-health":
                return await _grpc_health(target, limit, tls or process_tls())
            case "kserve-live":
                return await _kserve_live(target, limit, tls or process_tls())
            case "http":
                return await _http(target, limit)
            case "tcp":
                return await _tcp(target, limit)
            case "redis":
                return await _redis(target, limit)
            case "heartbeat":
                return await _heartbeat(target, pid, limit)
            case _:
                return False, f"unknown probe {spec!r}"
    except grpc.aio.AioRpcError as error:
        return False, error.code().name
    except (OSError, TimeoutError, httpx.HTTPError, aioredis.RedisError, ValueError) as error:
        return False, type(error).__name__ + (f": {error}" if str(error) else "")
