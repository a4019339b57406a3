"""`python -m services.training.main`: the training service process.

Besides the gRPC API it runs the watchdog: runs whose worker stopped renewing the lease fail with
"worker lost", and runs whose Celery task could not be sent (the broker was down) are sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path

from mlops.algorithms.registry import AlgorithmRegistry
from mlops.kernel.grpcx.interceptors import Verifier
from mlops.kernel.objectstore import ObjectStore
from mlops.kernel.runtime import ServiceRuntime, run_service
from services.training.api import register_api
from services.training.celery_app import create_celery_app
from services.training.datasets import GrpcDatasetCatalog
from services.training.dispatch import CeleryDispatcher
from services.training.domain import ConcurrencyLimits
from services.training.live import BusLivePublisher
from services.training.permissions import PERMISSIONS, UNAUDITED
from services.training.provenance import current_code_version
from services.training.service import DatasetCatalog, Dispatcher, ServiceConfig, TrainingService
from services.training.settings import TrainingSettings

MIGRATIONS = Path(__file__).parent / "migrations" / "versions"

log = logging.getLogger(__name__)


class TrainingRuntime(ServiceRuntime):
    def __init__(
        self,
        settings: TrainingSettings,
        *,
        algorithms: AlgorithmRegistry | None = None,
        catalog: DatasetCatalog | None = None,
        dispatcher: Dispatcher | None = None,
        verifier: Verifier | None = None,
    ) -> None:
        super().__init__(
            settings,
            register=self._register_api,
            permissions=PERMISSIONS,
            migrations=MIGRATIONS,
            unaudited=UNAUDITED,
            verifier=verifier,
        )
        self.training_settings = settings
        self.algorithms = algorithms
        self.catalog = catalog
        self.dispatcher = dispatcher
        self.objects = ObjectStore(settings.s3)
        self.service: TrainingService | None = None
        self._watchdog: asyncio.Task[None] | None = None

    def _register_api(self, runtime: ServiceRuntime) -> Iterable[str]:
        settings = self.training_settings
        assert self.db is not None
        if self.catalog is None:
            self.catalog = GrpcDatasetCatalog(settings.dataset_address, tls=settings.tls)
        if self.dispatcher is None:
            self.dispatcher = CeleryDispatcher(create_celery_app(settings))
        self.service = TrainingService(
            self.db,
            self.algorithms or AlgorithmRegistry.discover(),
            self.catalog,
            self.dispatcher,
            current_code_version(),
            ServiceConfig(
                limits=ConcurrencyLimits(
                    active_per_user=settings.max_active_runs_per_user,
                    running_per_pool=settings.max_running_runs_per_pool,
                ),
                lease_seconds=settings.run_lease_seconds,
            ),
            live=BusLivePublisher(lambda: self.bus),
        )
        return register_api(self, self.service, self.objects)

    async def start(self) -> None:
        await super().start()
        try:
            await self.objects.ensure_bucket()
        except Exception:
            log.warning(
                "object store not reachable yet; artifact downloads will fail until it is", exc_info=True
            )
        self._watchdog = asyncio.create_task(self._watch(), name="training-watchdog")

    async def _watch(self) -> None:
        assert self.service is not None
        while True:
            await asyncio.sleep(self.training_settings.watchdog_interval_seconds)
            try:
                await self.service.fail_lost_workers()
                await self.service.redispatch()
            except Exception:
                log.exception("training watchdog round failed")

    async def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        await super().stop()
        close = getattr(self.catalog, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()


def build(settings: TrainingSettings | None = None) -> TrainingRuntime:
    return TrainingRuntime(settings or TrainingSettings())


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
