"""`python -m services.serving.main`: the serving service process."""

from __future__ import annotations

from pathlib import Path

from mlops.kernel.runtime import ServiceRuntime, run_service
from services.serving.api import register
from services.serving.permissions import PERMISSIONS, UNAUDITED
from services.serving.settings import ServingSettings

MIGRATIONS = Path(__file__).parent / "migrations" / "versions"


def build(settings: ServingSettings | None = None) -> ServiceRuntime:
    return ServiceRuntime(
        settings or ServingSettings(),
        register=register,
        permissions=PERMISSIONS,
        migrations=MIGRATIONS,
        unaudited=UNAUDITED,
    )


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
