"""One supervised child process: its own session (process group), its own log, stopped as a group."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from mlops.stack.plan import ComponentSpec


@dataclass
class Child:
    spec: ComponentSpec
    log_dir: Path
    cwd: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.spec.env, **self.extra_env}
        with open(self.log_path, "ab") as log:
            # A session of its own: signals to the group reach any grandchild, and Ctrl+C in the
            # terminal reaches only the supervisor, which then stops children in order.
            self.process = subprocess.Popen(
                self.spec.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                env=env,
                start_new_session=True,
            )
        self.started_at = time.monotonic()

    def exited(self) -> int | None:
        """The exit code once the child has ended, else None."""
        return self.process.poll() if self.process else None

    def signal_group(self, signum: int) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float) -> bool:
        if self.process is None:
            return True
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self) -> None:
        self.signal_group(signal.SIGKILL)
        self.wait(5)
