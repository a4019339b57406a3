"""The container health probe against real servers on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from mlops.stack.probe import main


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def health_servicer() -> Iterator[tuple[int, health.HealthServicer]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port, servicer
    server.stop(grace=None)


def test_http_probe(http_port: int) -> None:
    assert main(["http", f"http://127.0.0.1:{http_port}/healthz"]) == 0
    assert main(["http", f"http://127.0.0.1:{http_port}/other"]) == 1


def test_grpc_probe_follows_serving_status(health_servicer: tuple[int, health.HealthServicer]) -> None:
    port, servicer = health_servicer
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert main(["grpc", f"127.0.0.1:{port}"]) == 0
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert main(["grpc", f"127.0.0.1:{port}"]) == 1


def test_probes_fail_when_nothing_listens(unused_tcp_port: int) -> None:
    assert main(["--timeout", "0.5", "grpc", f"127.0.0.1:{unused_tcp_port}"]) == 1
    assert main(["--timeout", "0.5", "http", f"http://127.0.0.1:{unused_tcp_port}/healthz"]) == 1
