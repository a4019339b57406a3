"""`python -m services.registry.main`: the registry service process."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from mlops.kernel.objectstore import ObjectStore
from mlops.kernel.runtime import ConsumerSpec, ServiceRuntime, run_service
from services.registry.api import register_api
from services.registry.events import CONSUMED_SUBJECTS, CONSUMER_NAME
from services.registry.permissions import PERMISSIONS
from services.registry.runs import GrpcRunSource, RunSource
from services.registry.service import RegistryService
from services.registry.settings import RegistrySettings
from services.registry.store import SqlRegistryStore

MIGRATIONS = Path(__file__).parent / "migrations" / "versions"

log = logging.getLogger(__name__)


class RegistryRuntime(ServiceRuntime):
    def __init__(self, settings: RegistrySettings, *, runs: RunSource | None = None) -> None:
        super().__init__(
            settings,
            register=self._register_api,
            permissions=PERMISSIONS,
            migrations=MIGRATIONS,
            consumers=self._consumers_of,
        )
        self.registry_settings = settings
        self.runs = runs
        self.objects = ObjectStore(settings.s3, spool_dir=settings.data_dir / "spool")
        self.service: RegistryService | None = None

    def _register_api(self, runtime: ServiceRuntime) -> Iterable[str]:
        settings = self.registry_settings
        assert self.db is not None
        if self.runs is None:
            self.runs = GrpcRunSource(
                settings.training_address, settings.training_timeout_seconds, tls=settings.tls
            )
        token = settings.service_token.get_secret_value() if settings.service_token else None
        self.service = RegistryService(
            SqlRegistryStore(self.db),
            self.runs,
            self.objects,
            spool_dir=settings.data_dir / "spool",
            max_upload_bytes=settings.max_upload_bytes,
            service_authorization=f"Bearer {token}" if token else None,
        )
        return register_api(self, self.service)

    def _consumers_of(self, runtime: ServiceRuntime) -> Sequence[ConsumerSpec]:
        assert self.service is not None
        return [ConsumerSpec(CONSUMER_NAME, CONSUMED_SUBJECTS, self.service.on_event)]

    async def start(self) -> None:
        await super().start()
        try:
            await self.objects.ensure_bucket()
        except Exception:
            log.warning("object store not reachable yet; uploads fail until it is", exc_info=True)

    async def stop(self) -> None:
        await super().stop()
        close = getattr(self.runs, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()


def build(settings: RegistrySettings | None = None) -> RegistryRuntime:
    return RegistryRuntime(settings or RegistrySettings())


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
