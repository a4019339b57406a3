"""`python -m services.serving.main`: the serving control plane process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from mlops.kernel.objectstore import ObjectStore
from mlops.kernel.runtime import ServiceRuntime, run_service
from services.serving.api import register_api
from services.serving.domain import Resources
from services.serving.permissions import PERMISSIONS, UNAUDITED
from services.serving.registry_client import GrpcModelVersions, ModelVersions
from services.serving.request_logs import RequestLogReader
from services.serving.service import ServingService
from services.serving.settings import ServingSettings

MIGRATIONS = Path(__file__).parent / "migrations" / "versions"


class ServingRuntime(ServiceRuntime):
    def __init__(self, settings: ServingSettings, *, versions: ModelVersions | None = None) -> None:
        super().__init__(
            settings,
            register=self.register_api,
            permissions=PERMISSIONS,
            migrations=MIGRATIONS,
            unaudited=UNAUDITED,
        )
        self.serving_settings = settings
        self.versions = versions
        self.service: ServingService | None = None
        self._stop_sweeps = asyncio.Event()
        self._sweeps: asyncio.Task[None] | None = None

    def register_api(self, runtime: ServiceRuntime) -> Iterable[str]:
        settings = self.serving_settings
        assert self.db is not None and self.server is not None
        if self.versions is None:
            self.versions = GrpcModelVersions(
                settings.registry_address, settings.registry_timeout_seconds, tls=settings.tls
            )
        self.service = ServingService(
            self.db,
            self.versions,
            dead_after=timedelta(seconds=settings.worker_dead_after_seconds),
            default_resources=Resources(
                settings.default_replica_memory_bytes, settings.default_replica_threads
            ),
            # What the workers log of deployments with request logging on (ObjectStore connects lazily).
            request_logs=RequestLogReader(ObjectStore(settings.s3)),
        )
        return register_api(self.service, self.server, settings.worker_heartbeat_seconds)

    async def start(self) -> None:
        await super().start()
        assert self.service is not None
        self._stop_sweeps.clear()
        self._sweeps = asyncio.create_task(
            self.service.run_sweeps(self.serving_settings.sweep_interval_seconds, self._stop_sweeps)
        )

    async def stop(self) -> None:
        self._stop_sweeps.set()
        if self._sweeps is not None:
            with contextlib.suppress(Exception):
                await self._sweeps
        await super().stop()
        close = getattr(self.versions, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()


def build(settings: ServingSettings | None = None) -> ServingRuntime:
    return ServingRuntime(settings or ServingSettings())


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
