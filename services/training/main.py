"""`python -m services.training.main`: the training service process."""

from __future__ import annotations

from pathlib import Path

from mlops.kernel.runtime import ServiceRuntime, run_service
from services.training.api import register
from services.training.permissions import PERMISSIONS
from services.training.settings import TrainingSettings

MIGRATIONS = Path(__file__).parent / "migrations" / "versions"


def build(settings: TrainingSettings | None = None) -> ServiceRuntime:
    return ServiceRuntime(
        settings or TrainingSettings(),
        register=register,
        permissions=PERMISSIONS,
        migrations=MIGRATIONS,
    )


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
