"""Health probes for containers: `python -m mlops.stack.probe grpc HOST:PORT` or `http URL`.

Exits 0 when the target answers healthy, 1 otherwise. Compose healthchecks and Kubernetes exec probes
call it, so the image needs no grpc_health_probe binary and no curl.
"""

from __future__ import annotations

import argparse
import logging
import sys
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops.kernel.settings import TlsSettings

logger = logging.getLogger("mlops.stack.probe")

DEFAULT_TIMEOUT_SECONDS = 3.0


def grpc_healthy(
    address: str, service: str = "", timeout: float = DEFAULT_TIMEOUT_SECONDS, tls: TlsSettings | None = None
) -> bool:
    """True when grpc.health.v1 reports SERVING for `service` ("" is the whole server); dials with
    `tls`, by default the container's MLOPS_TLS__* settings."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from mlops.kernel.grpcx.tls import process_tls, sync_channel

    with sync_channel(address, tls or process_tls()) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as error:
            logger.warning("grpc health check of %s failed: %s", address, error.code())
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def http_healthy(url: str, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> bool:
    """True when GET `url` answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        logger.warning("http health check of %s failed: %s", url, error)
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops.stack.probe", description=__doc__)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS)
    kinds = parser.add_subparsers(dest="kind", required=True)
    grpc_parser = kinds.add_parser("grpc", help="grpc.health.v1 Check against HOST:PORT")
    grpc_parser.add_argument("address")
    grpc_parser.add_argument("--service", default="")
    http_parser = kinds.add_parser("http", help="GET URL, healthy on 2xx")
    http_parser.add_argument("url")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if args.kind == "grpc":
        healthy = grpc_healthy(args.address, args.service, args.timeout)
    else:
        healthy = http_healthy(args.url, args.timeout)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
