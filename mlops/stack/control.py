"""`mlops up`, `down` and `status` as functions: run or detach a supervisor, stop it, probe the stack."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
from rich.console import Console

from mlops.stack.health import probe
from mlops.stack.lock import StackAlreadyRunning, running_supervisor
from mlops.stack.plan import plan_stack
from mlops.stack.report import component_table
from mlops.stack.settings import StackSettings
from mlops.stack.stackfile import StackInfo

logger = logging.getLogger("mlops.stack")

DOWN_TIMEOUT_SECONDS = 60.0


def run_foreground(settings: StackSettings, console: Console) -> int:
    """Runs the supervisor in this process until Ctrl+C, SIGTERM or `mlops down`."""
    from mlops.stack.supervisor import Supervisor

    data_dir = settings.resolved_data_dir()
    pid = running_supervisor(data_dir)
    if pid:
        raise StackAlreadyRunning(data_dir, pid)
    plan = plan_stack(settings, StackInfo.load(data_dir))
    console.print(f"starting the stack in {data_dir}")
    return asyncio.run(Supervisor(plan, settings, console).run())


def supervisor_command(settings: StackSettings) -> list[str]:
    return [sys.executable, "-m", "mlops.cli.main", "up", "--data-dir", str(settings.resolved_data_dir())]


def settings_env(settings: StackSettings) -> dict[str, str]:
    """The settings as the detached supervisor's environment, so flags reach it unchanged."""
    env = {
        "MLOPS_NATS_URL": settings.nats_url,
        "MLOPS_REDIS_URL": settings.redis_url,
        "MLOPS_POSTGRES_URL": settings.postgres_url,
        "MLOPS_S3_ENDPOINT": settings.s3_endpoint,
        "MLOPS_S3_ACCESS_KEY": settings.s3_access_key,
        "MLOPS_S3_SECRET_KEY": settings.s3_secret_key.get_secret_value(),
        "MLOPS_S3_BUCKET": settings.s3_bucket,
        "MLOPS_HEALTH_TIMEOUT": str(settings.health_timeout),
        "MLOPS_STOP_GRACE": str(settings.stop_grace),
        "MLOPS_SKIP": settings.skip,
    }
    return {**os.environ, **env}


def run_detached(settings: StackSettings, console: Console) -> int:
    """Starts a supervisor in a session of its own and returns once the stack is healthy (0) or not."""
    data_dir = settings.resolved_data_dir()
    pid = running_supervisor(data_dir)
    if pid:
        raise StackAlreadyRunning(data_dir, pid)
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "supervisor.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            supervisor_command(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=settings_env(settings),
            start_new_session=True,
        )
    try:
        return _await_healthy(process, settings, data_dir, console)
    except KeyboardInterrupt:
        console.print("interrupted; stopping the stack")
        stop_stack(data_dir, console)
        return 130


def _await_healthy(
    process: subprocess.Popen[bytes], settings: StackSettings, data_dir: Path, console: Console
) -> int:
    log_path = data_dir / "logs" / "supervisor.log"
    deadline = time.monotonic() + settings.health_timeout + 30
    while time.monotonic() < deadline:
        code = process.poll()
        info = _load_quietly(data_dir)
        mine = info is not None and info.supervisor_pid == process.pid
        if mine and info is not None and info.state == "running":
            console.print(component_table(info))
            console.print(f"console      {info.console_url}")
            console.print(f"admin token  {info.admin_token_path}")
            console.print(f"supervisor   pid {process.pid}, log {log_path}")
            console.print("all healthy")
            return 0
        if code is not None:
            console.print(f"the stack did not start (exit code {code}); see {log_path}")
            console.print(_tail(log_path))
            return 1
        time.sleep(0.2)
    console.print(f"the stack was not healthy in time; stopping it; see {log_path}")
    stop_stack(data_dir, console)
    return 1


def _load_quietly(data_dir: Path) -> StackInfo | None:
    try:
        return StackInfo.load(data_dir)
    except ValueError:
        return None  # caught mid-write by another process's reader: the next poll sees it whole


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stack_processes(data_dir: Path, info: StackInfo | None) -> list[psutil.Process]:
    """Live processes of this stack: the pids recorded, and any whose cwd is the data directory."""
    found: dict[int, psutil.Process] = {}
    pids = [c.pid for c in info.components.values() if c.pid] if info else []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            found[pid] = psutil.Process(pid)
    # Children run in the data directory and name it in their command line or environment; that
    # finds the ones an abruptly killed supervisor could not record. Our own ancestors (a shell cd'ed
    # into the data directory) are never the stack's.
    ours = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    for process in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error):
            if process.pid not in ours and _runs_from(process, data_dir):
                found[process.pid] = process
    return [p for p in found.values() if _alive(p)]


def _runs_from(process: psutil.Process, data_dir: Path) -> bool:
    if process.cwd() != str(data_dir):
        return False
    if any(str(data_dir) in part for part in process.cmdline()):
        return True
    return process.environ().get("MLOPS_DATA_DIR") == str(data_dir)


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def stop_stack(data_dir: Path, console: Console, timeout: float = DOWN_TIMEOUT_SECONDS) -> int:
    """Signals the supervisor, waits for it and every recorded child to be gone. 0 when none is left."""
    data_dir = data_dir.expanduser().resolve()
    info = _load_quietly(data_dir)
    supervisor_pid = running_supervisor(data_dir) or (info.supervisor_pid if info else None)
    deadline = time.monotonic() + timeout
    if supervisor_pid and supervisor_pid > 0 and psutil.pid_exists(supervisor_pid):
        console.print(f"stopping the supervisor (pid {supervisor_pid})")
        with contextlib.suppress(ProcessLookupError):
            os.kill(supervisor_pid, signal.SIGTERM)
        while time.monotonic() < deadline and psutil.pid_exists(supervisor_pid):
            with contextlib.suppress(psutil.Error):
                if psutil.Process(supervisor_pid).status() == psutil.STATUS_ZOMBIE:
                    break
            time.sleep(0.1)
    elif info is None:
        console.print(f"no stack in {data_dir}")
        return 0
    leftovers = stack_processes(data_dir, info)
    for process in leftovers:
        # The supervisor is gone but left these behind (it was killed): stop their groups ourselves.
        console.print(f"stopping leftover {process.name()} (pid {process.pid})")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
    _, alive = psutil.wait_procs(leftovers, timeout=max(1.0, deadline - time.monotonic()))
    for process in alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    psutil.wait_procs(alive, timeout=5)
    remaining = stack_processes(data_dir, info)
    if remaining:
        console.print(f"still running: {', '.join(str(p.pid) for p in remaining)}")
        return 1
    _mark_stopped(data_dir)
    console.print("stack stopped")
    return 0


def _mark_stopped(data_dir: Path) -> None:
    """A supervisor that was killed could not record the stop: record it for `mlops status`."""
    info = _load_quietly(data_dir)
    if info is None or running_supervisor(data_dir) or info.state in ("stopped", "failed"):
        return
    info.state, info.supervisor_pid = "stopped", None
    for component in info.components.values():
        if component.status != "external":
            component.status, component.pid = "stopped", None
    info.save()


async def probe_stack(info: StackInfo) -> dict[str, tuple[bool, str]]:
    names = list(info.components)
    results = await asyncio.gather(*(probe(info.components[n].probe, info.components[n].pid) for n in names))
    return dict(zip(names, results, strict=True))


def show_status(data_dir: Path, console: Console) -> int:
    """One line per component with a live probe; 0 only when everything is healthy."""
    data_dir = data_dir.expanduser().resolve()
    info = _load_quietly(data_dir)
    if info is None:
        console.print(f"no stack in {data_dir} (no stack.json)")
        return 1
    supervisor = running_supervisor(data_dir)
    live = asyncio.run(probe_stack(info))
    console.print(component_table(info, live))
    console.print(f"supervisor   {f'pid {supervisor}' if supervisor else 'not running'} ({info.state})")
    console.print(f"console      {info.console_url}")
    console.print(f"admin token  {info.admin_token_path}")
    healthy = bool(supervisor) and all(ok for ok, _ in live.values())
    console.print("all healthy" if healthy else "not healthy")
    return 0 if healthy else 1
