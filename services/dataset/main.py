"""`python -m services.dataset.main`: the dataset service process."""

from __future__ import annotations

from pathlib import Path

from mlops.kernel.runtime import ServiceRuntime, run_service
from services.dataset.api import register
from services.dataset.permissions import PERMISSIONS
from services.dataset.settings import DatasetSettings

MIGRATIONS = Path(__file__).parent / "migrations" / "versions"


def build(settings: DatasetSettings | None = None) -> ServiceRuntime:
    return ServiceRuntime(
        settings or DatasetSettings(),
        register=register,
        permissions=PERMISSIONS,
        migrations=MIGRATIONS,
    )


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
