"""`python -m services.dataset.main`: the dataset service process.

Besides the gRPC API it records version users from training and registry events, and collects
garbage every `gc_interval_seconds` (one collection at a time across replicas; see
DatasetService.collect_garbage), so storage no draft or version needs is freed without anyone
having to ask.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from mlops.kernel.runtime import ConsumerSpec, ServiceRuntime, run_service
from services.dataset.api import build_service, register_service
from services.dataset.events import CONSUMER_NAME, USER_SUBJECTS, record_version_user
from services.dataset.permissions import PERMISSIONS
from services.dataset.service import DatasetService
from services.dataset.settings import DatasetSettings

MIGRATIONS = Path(__file__).parent / "migrations" / "versions"
log = logging.getLogger(__name__)


def consumers(runtime: ServiceRuntime) -> Sequence[ConsumerSpec]:
    """Training and the registry tell the service who uses which version."""
    return [ConsumerSpec(CONSUMER_NAME, USER_SUBJECTS, record_version_user)]


class DatasetRuntime(ServiceRuntime):
    def __init__(self, settings: DatasetSettings) -> None:
        super().__init__(
            settings,
            register=self._register_api,
            permissions=PERMISSIONS,
            migrations=MIGRATIONS,
            consumers=consumers,
        )
        self.dataset_settings = settings
        self.service: DatasetService | None = None
        self._collector: asyncio.Task[None] | None = None

    def _register_api(self, runtime: ServiceRuntime) -> Iterable[str]:
        self.service = build_service(runtime)
        return register_service(runtime, self.service)

    async def start(self) -> None:
        await super().start()
        if self.dataset_settings.gc_interval_seconds > 0:
            self._collector = asyncio.create_task(self._collect_periodically(), name="dataset-collector")

    async def _collect_periodically(self) -> None:
        assert self.service is not None
        while True:
            await asyncio.sleep(self.dataset_settings.gc_interval_seconds)
            try:
                report = await self.service.collect_garbage()
            except Exception:
                log.exception("scheduled garbage collection failed; the next round tries again")
                continue
            log.info(
                "scheduled garbage collection",
                extra={"fields": {"blobs_removed": report.blobs_removed, "bytes_freed": report.bytes_freed}},
            )

    async def stop(self) -> None:
        if self._collector is not None:
            self._collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._collector
            self._collector = None
        await super().stop()


def build(settings: DatasetSettings | None = None) -> DatasetRuntime:
    return DatasetRuntime(settings or DatasetSettings())


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
