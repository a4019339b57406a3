"""`mlops up` / `mlops down` end to end, as a user runs them: subprocesses, real servers, loopback."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import psutil
import pytest
import redis
from minio import Minio

from mlops.api.identity.v1 import identity_pb2, identity_pb2_grpc
from mlops.stack.ports import free_port
from mlops.stack.servers import NatsServer
from mlops.stack.stackfile import DEFAULT_PORTS, StackInfo
from mlops.stack.supervisor import ensure_postgres_databases

MLOPS = [sys.executable, "-m", "mlops.cli.main"]
EVERY_ENDPOINT = {
    "nats", "s3", "redis", "gateway", "identity", "dataset", "training", "registry", "serving",
    "inference_rest", "inference_grpc", "inference_metrics",
}  # fmt: skip


def mlops(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MLOPS, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def stack_pids(info: StackInfo) -> set[int]:
    pids = {c.pid for c in info.components.values() if c.pid}
    if info.supervisor_pid:
        pids.add(info.supervisor_pid)
    return pids


def leftovers(data_dir: Path, pids: set[int]) -> list[str]:
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "cwd", "status"]):
        if process.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        cmdline = " ".join(process.info["cmdline"] or [])
        if process.pid in pids or str(data_dir) in cmdline or process.info["cwd"] == str(data_dir):
            found.append(f"{process.pid} {cmdline}")
    return found


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "stack"
    yield path
    # Whatever a failed assertion left running goes, so no test leaves a stack behind.
    mlops("down", "--data-dir", str(path), timeout=90)


def create_token(identity: str, admin_token: str) -> str:
    with grpc.insecure_channel(identity) as channel:
        reply = identity_pb2_grpc.IdentityServiceStub(channel).CreateToken(
            identity_pb2.CreateTokenRequest(subject="stack-test", role="viewer", description="durable"),
            metadata=[("authorization", f"Bearer {admin_token}")],
            timeout=10,
        )
    return str(reply.token)


def token_active(identity: str, token: str) -> bool:
    with grpc.insecure_channel(identity) as channel:
        reply = identity_pb2_grpc.IdentityServiceStub(channel).Introspect(
            identity_pb2.IntrospectRequest(token=token), timeout=10
        )
    return bool(reply.active)


def s3_client(data_dir: Path, endpoint: str) -> Minio:
    keys = json.loads((data_dir / "s3.credentials.json").read_text())
    return Minio(endpoint, access_key=keys["access_key"], secret_key=keys["secret_key"], secure=False)


@pytest.mark.slow
def test_up_down_leaves_no_process_and_up_again_keeps_the_data(data_dir: Path) -> None:
    started = mlops("up", "--detach", "--data-dir", str(data_dir))
    assert started.returncode == 0, started.stdout + started.stderr
    assert "all healthy" in started.stdout
    info = StackInfo.load(data_dir)
    assert info is not None and info.state == "running"
    assert EVERY_ENDPOINT <= set(info.endpoints)
    assert all(c.status == "healthy" for c in info.components.values()), info.components
    assert info.console_url == info.endpoints["gateway"]
    admin_token = Path(info.admin_token_path).read_text().strip()
    assert admin_token
    assert mlops("status", "--data-dir", str(data_dir)).returncode == 0

    # Durable state in the gateway's database, Redis and S3.
    viewer_token = create_token(info.endpoints["identity"], admin_token)
    redis.Redis.from_url(info.endpoints["redis"]).set("stack-test:durable", "kept")
    s3 = s3_client(data_dir, info.endpoints["s3"])
    s3.put_object("mlops", "stack-test/durable.txt", io.BytesIO(b"kept"), 4)

    pids = stack_pids(info)
    stopped = mlops("down", "--data-dir", str(data_dir))
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert leftovers(data_dir, pids) == []
    assert mlops("status", "--data-dir", str(data_dir)).returncode != 0

    again = mlops("up", "--detach", "--data-dir", str(data_dir))
    assert again.returncode == 0, again.stdout + again.stderr
    resumed = StackInfo.load(data_dir)
    assert resumed is not None
    # The same ports where they were still free, so clients keep working.
    assert resumed.endpoints["gateway"] == info.endpoints["gateway"]
    assert Path(resumed.admin_token_path).read_text().strip() == admin_token
    assert token_active(resumed.endpoints["identity"], viewer_token)
    assert redis.Redis.from_url(resumed.endpoints["redis"]).get("stack-test:durable") == b"kept"
    s3 = s3_client(data_dir, resumed.endpoints["s3"])
    assert s3.get_object("mlops", "stack-test/durable.txt").read() == b"kept"

    pids = stack_pids(resumed)
    assert mlops("down", "--data-dir", str(data_dir)).returncode == 0
    assert leftovers(data_dir, pids) == []


# Only what the port test needs: NATS, Redis and the serving worker start in a few seconds.
LIGHT = {"MLOPS_SKIP": "s3,gateway,dataset,training,registry,serving,training-worker"}


def test_a_taken_port_is_replaced_and_recorded_and_a_second_up_refuses(data_dir: Path) -> None:
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        squatter.bind(("127.0.0.1", DEFAULT_PORTS["inference_rest"]))
        squatter.listen()
    except OSError:
        pass  # someone else holds it already: just as good
    try:
        started = mlops("up", "--detach", "--data-dir", str(data_dir), env=LIGHT, timeout=90)
        assert started.returncode == 0, started.stdout + started.stderr
        info = StackInfo.load(data_dir)
        assert info is not None
        port = info.ports["inference_rest"]
        assert port != DEFAULT_PORTS["inference_rest"]
        assert info.endpoints["inference_rest"] == f"http://127.0.0.1:{port}"
        import httpx

        assert httpx.get(f"http://127.0.0.1:{port}/v2/health/live", timeout=5).status_code == 200

        # A crashed child is restarted and the restart recorded.
        crashed = info.components["serving-worker"].pid
        assert crashed
        os.kill(crashed, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while True:
            worker = StackInfo.load(data_dir).components["serving-worker"]  # type: ignore[union-attr]
            if worker.restarts == 1 and worker.status == "healthy":
                break
            assert time.monotonic() < deadline, worker
            time.sleep(0.2)
        assert worker.pid not in (None, crashed)
        pids = stack_pids(StackInfo.load(data_dir))  # type: ignore[arg-type]

        second = mlops("up", "--detach", "--data-dir", str(data_dir), env=LIGHT, timeout=30)
        assert second.returncode == 1
        assert "already running" in second.stdout
    finally:
        squatter.close()
    assert mlops("down", "--data-dir", str(data_dir)).returncode == 0
    assert leftovers(data_dir, pids) == []


def test_ctrl_c_stops_a_foreground_stack(data_dir: Path) -> None:
    process = subprocess.Popen(
        [*MLOPS, "up", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **LIGHT},
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "all healthy" in line:
                break
        else:
            pytest.fail("the stack never reported all healthy")
        info = StackInfo.load(data_dir)
        assert info is not None and info.state == "running"
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert leftovers(data_dir, stack_pids(info)) == []
    stopped = StackInfo.load(data_dir)
    assert stopped is not None and stopped.state == "stopped"
    assert not (data_dir / "supervisor.lock").exists()


def test_external_servers_are_used_not_started(
    data_dir: Path, nats_server: NatsServer, redis_url: str
) -> None:
    started = mlops(
        "up", "--detach", "--data-dir", str(data_dir),
        "--nats-url", nats_server.url, "--redis-url", redis_url,
        env=LIGHT, timeout=90,
    )  # fmt: skip
    assert started.returncode == 0, started.stdout + started.stderr
    info = StackInfo.load(data_dir)
    assert info is not None
    assert info.components["nats"].status == "external" and info.components["nats"].pid is None
    assert info.endpoints["nats"] == nats_server.url
    assert info.endpoints["redis"] == redis_url
    assert not (data_dir / "nats" / "nats.conf").exists()
    assert mlops("status", "--data-dir", str(data_dir)).returncode == 0
    pids = stack_pids(info)
    assert mlops("down", "--data-dir", str(data_dir)).returncode == 0
    assert leftovers(data_dir, pids) == []
    assert nats_server.process is not None and nats_server.process.poll() is None


async def test_postgres_databases_are_created_once_per_service(postgres_url: str) -> None:
    import asyncpg

    name = f"mlops_stacktest_{uuid.uuid4().hex[:8]}"
    await ensure_postgres_databases(postgres_url, [name])
    await ensure_postgres_databases(postgres_url, [name])
    connection = await asyncpg.connect(postgres_url)
    try:
        assert await connection.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name) == 1
    finally:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await connection.close()


def test_a_stack_that_never_gets_healthy_says_why_and_leaves_nothing(data_dir: Path) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    started = mlops(
        "up", "--detach", "--data-dir", str(data_dir), "--redis-url", closed, "--health-timeout", "3",
        env=LIGHT, timeout=60,
    )  # fmt: skip
    assert started.returncode == 1
    assert "redis is unhealthy" in started.stdout
    info = StackInfo.load(data_dir)
    assert info is not None and info.state == "failed"
    assert leftovers(data_dir, set()) == []
