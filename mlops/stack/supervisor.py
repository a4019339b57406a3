"""The embedded stack's supervisor: starts every component in order, waits for health, watches.

Infrastructure first, then the gateway (it hosts identity and mints the service token), then the
services and workers. A child that crashes is restarted with backoff; SIGTERM or SIGINT stops all
children in reverse order, each process group SIGTERMed, then SIGKILLed after a grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from datetime import UTC, datetime

from rich.console import Console

from mlops.stack.children import Child
from mlops.stack.health import probe
from mlops.stack.lock import SupervisorLock
from mlops.stack.plan import GATEWAY, INFRASTRUCTURE, PLATFORM, S3Access, StackPlan
from mlops.stack.report import component_table
from mlops.stack.settings import StackSettings
from mlops.stack.stackfile import ComponentInfo

logger = logging.getLogger("mlops.stack.supervisor")

PROBE_INTERVAL_SECONDS = 0.25
WATCH_INTERVAL_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
# A child that ran this long before crashing starts its backoff afresh.
STABLE_SECONDS = 60.0


def ensure_bucket(s3: S3Access) -> None:
    """Creates the platform's bucket; failing here also means the S3 server is not ready yet."""
    import urllib3
    from minio import Minio

    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=1, read=3), retries=False)
    client = Minio(
        s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key, secure=False, http_client=http
    )
    if not client.bucket_exists(bucket_name=s3.bucket):
        client.make_bucket(bucket_name=s3.bucket)


async def ensure_postgres_databases(admin_url: str, databases: list[str]) -> None:
    import asyncpg

    scheme, rest = admin_url.split("://", 1)
    connection = await asyncpg.connect(f"{scheme.split('+', 1)[0]}://{rest}")
    try:
        for name in databases:
            if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await connection.execute(f'CREATE DATABASE "{name}"')
                logger.info("created database %s", name)
    finally:
        await connection.close()


class Supervisor:
    def __init__(self, plan: StackPlan, settings: StackSettings, console: Console | None = None) -> None:
        self.plan = plan
        self.settings = settings
        self.console = console or Console()
        self.info = plan.info
        self.log_dir = plan.data_dir / "logs"
        self.specs = {spec.name: spec for spec in plan.components}
        self.children = {
            spec.name: Child(spec, self.log_dir, plan.data_dir)
            for spec in plan.components
            if not spec.external
        }
        for spec in plan.components:
            self.info.components[spec.name] = ComponentInfo(
                name=spec.name,
                status="external" if spec.external else "starting",
                endpoint=spec.endpoint,
                metrics=spec.metrics,
                probe=spec.probe,
                log=str(self.log_dir / f"{spec.name}.log") if not spec.external else "",
            )
        self._stop = asyncio.Event()
        self._health_waits: set[asyncio.Task[bool]] = set()
        self._lock = SupervisorLock(plan.data_dir)

    # ---- lifecycle -------------------------------------------------------------------------------

    async def run(self) -> int:
        """Runs until stopped; 0 after a clean stop, 1 when the stack never became healthy."""
        self._lock.acquire()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(signum, self._stop.set)
        self.info.supervisor_pid = os.getpid()
        self.info.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.info.state = "starting"
        self.info.save()
        started = time.monotonic()
        try:
            healthy = await self._bring_up(started + self.settings.health_timeout)
            if not healthy and self._stop.is_set():
                self.console.print("interrupted while starting; stopping the stack")
                return 1
            if not healthy:
                self.info.state = "failed"
                self.info.save()
                self._report_failure()
                return 1
            self.info.state = "running"
            self.info.save()
            self._report_ready(time.monotonic() - started)
            await self._watch()
            return 0
        finally:
            await self._stop_all()
            self.info.state = "stopped" if self.info.state != "failed" else "failed"
            self.info.supervisor_pid = None
            self.info.save()
            self._lock.release()
            self.console.print("stack stopped")

    async def _bring_up(self, deadline: float) -> bool:
        for stage in (INFRASTRUCTURE, GATEWAY, PLATFORM):
            if stage == GATEWAY and self.plan.postgres_admin_url:
                databases = [f"mlops_{service}" for service in self.plan.database_urls]
                try:
                    await ensure_postgres_databases(self.plan.postgres_admin_url, databases)
                except Exception as error:  # unreachable server, bad credentials: say so and stop
                    self.console.print(f"could not create the PostgreSQL databases: {error}")
                    return False
            if stage == PLATFORM:
                self._hand_out_service_token()
            specs = self.plan.stage(stage)
            for spec in specs:
                if not spec.external:
                    self._start(spec.name)
            self.info.save()
            results = await asyncio.gather(*(self._wait_healthy(spec.name, deadline) for spec in specs))
            self.info.save()
            if not all(results) or self._stop.is_set():
                return False
        return True

    def _start(self, name: str) -> None:
        component = self.info.components[name]
        try:
            self.children[name].start()
        except OSError as error:
            # Reported by _wait_healthy as an exit: the child never ran.
            component.detail = f"could not start: {error}"
            logger.error("could not start %s: %s", name, error)
            return
        component.pid = self.children[name].pid

    def _hand_out_service_token(self) -> None:
        path = self.plan.data_dir / "service.token"
        if not path.exists():
            logger.warning("no %s: services and workers start without a service token", path)
            return
        token = path.read_text().strip()
        for child in self.children.values():
            child.extra_env["MLOPS_SERVICE_TOKEN"] = token

    async def _wait_healthy(self, name: str, deadline: float) -> bool:
        component = self.info.components[name]
        child = self.children.get(name)
        started = time.monotonic()
        while not self._stop.is_set():
            if child is not None and child.process is None:
                component.status = "unhealthy"
                return False
            if child is not None and (code := child.exited()) is not None:
                component.status, component.detail = "unhealthy", f"exited with code {code}"
                return False
            spec = self.specs[name]
            healthy, detail = await probe(spec.startup_probe or spec.probe, child.pid if child else None)
            if healthy and name == "s3":
                healthy, detail = await self._s3_bucket_ready()
            if healthy:
                component.status, component.detail = "external" if child is None else "healthy", detail
                self.console.print(f"  {name:<16} healthy after {time.monotonic() - started:.1f}s")
                return True
            component.detail = detail
            if time.monotonic() > deadline:
                component.status = "unhealthy"
                return False
            await asyncio.sleep(PROBE_INTERVAL_SECONDS)
        component.detail = "interrupted"
        return False

    async def _s3_bucket_ready(self) -> tuple[bool, str]:
        try:
            await asyncio.to_thread(ensure_bucket, self.plan.s3)
        except Exception as error:  # any failure means "not ready yet"; the loop retries
            return False, f"bucket {self.plan.s3.bucket}: {type(error).__name__}"
        return True, f"bucket {self.plan.s3.bucket} ready"

    # ---- watching --------------------------------------------------------------------------------

    async def _watch(self) -> None:
        due: dict[str, float] = {}
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), WATCH_INTERVAL_SECONDS)
            if self._stop.is_set():
                return
            now = time.monotonic()
            for name, child in self.children.items():
                component = self.info.components[name]
                if name in due:
                    if now >= due[name]:
                        del due[name]
                        self._restart(child)
                    continue
                code = child.exited()
                if code is None:
                    continue
                if now - child.started_at > STABLE_SECONDS:
                    child.restarts = 0
                backoff = min(MAX_BACKOFF_SECONDS, 2.0**child.restarts)
                component.status, component.detail = "restarting", f"exited with code {code}"
                component.pid = None
                logger.warning("%s exited with code %s; restarting in %.0fs", name, code, backoff)
                self.console.print(f"{name} exited with code {code}; restarting in {backoff:.0f}s")
                due[name] = now + backoff
                self.info.save()

    def _restart(self, child: Child) -> None:
        child.restarts += 1
        component = self.info.components[child.name]
        component.restarts += 1
        component.status = "starting"
        self._start(child.name)
        self.info.save()
        task = asyncio.create_task(
            self._wait_healthy(child.name, time.monotonic() + self.settings.health_timeout)
        )
        # Held so the loop does not drop the task before it ends.
        self._health_waits.add(task)
        task.add_done_callback(self._health_waits.discard)
        task.add_done_callback(lambda _: self.info.save())

    # ---- stopping --------------------------------------------------------------------------------

    async def _stop_all(self) -> None:
        for task in self._health_waits:
            task.cancel()
        self.info.state = "stopping" if self.info.state != "failed" else "failed"
        self.info.save()
        for stage in (PLATFORM, GATEWAY, INFRASTRUCTURE):
            children = [self.children[s.name] for s in self.plan.stage(stage) if s.name in self.children]
            await asyncio.gather(*(self._stop_child(child) for child in children))

    async def _stop_child(self, child: Child) -> None:
        if child.exited() is None:
            began = time.monotonic()
            child.signal_group(signal.SIGTERM)
            if await asyncio.to_thread(child.wait, self.settings.stop_grace):
                logger.info("%s stopped %.1fs after SIGTERM", child.name, time.monotonic() - began)
            else:
                logger.warning(
                    "%s ignored SIGTERM for %.0fs; killing it", child.name, self.settings.stop_grace
                )
                child.kill()
        component = self.info.components[child.name]
        component.status, component.pid = "stopped", None

    # ---- reporting -------------------------------------------------------------------------------

    def _report_ready(self, seconds: float) -> None:
        self.console.print(component_table(self.info))
        self.console.print(f"console      {self.info.console_url}")
        self.console.print(f"admin token  {self.info.admin_token_path}")
        self.console.print(f"stack file   {self.info.path_in(self.plan.data_dir)}")
        self.console.print(f"all healthy in {seconds:.1f}s; Ctrl+C or `mlops down` stops the stack")

    def _report_failure(self) -> None:
        self.console.print(component_table(self.info))
        for component in self.info.components.values():
            if component.status not in ("healthy", "external"):
                where = f"; see {component.log}" if component.log else ""
                self.console.print(f"{component.name} is {component.status}: {component.detail}{where}")
        self.console.print("the stack did not become healthy; stopping it")
