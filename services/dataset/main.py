"""`python -m services.dataset.main`: the dataset service process."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mlops.kernel.runtime import ConsumerSpec, ServiceRuntime, run_service
from services.dataset.api import register
from services.dataset.events import CONSUMER_NAME, USER_SUBJECTS, record_version_user
from services.dataset.permissions import PERMISSIONS
from services.dataset.settings import DatasetSettings

MIGRATIONS = Path(__file__).parent / "migrations" / "versions"


def consumers(runtime: ServiceRuntime) -> Sequence[ConsumerSpec]:
    """Training and the registry tell the service who uses which version."""
    return [ConsumerSpec(CONSUMER_NAME, USER_SUBJECTS, record_version_user)]


def build(settings: DatasetSettings | None = None) -> ServiceRuntime:
    return ServiceRuntime(
        settings or DatasetSettings(),
        register=register,
        permissions=PERMISSIONS,
        migrations=MIGRATIONS,
        consumers=consumers,
    )


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
