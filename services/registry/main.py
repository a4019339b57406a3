"""`python -m services.registry.main`: the registry service process."""

from __future__ import annotations

from pathlib import Path

from mlops.kernel.runtime import ServiceRuntime, run_service
from services.registry.api import register
from services.registry.permissions import PERMISSIONS
from services.registry.settings import RegistrySettings

MIGRATIONS = Path(__file__).parent / "migrations" / "versions"


def build(settings: RegistrySettings | None = None) -> ServiceRuntime:
    return ServiceRuntime(
        settings or RegistrySettings(),
        register=register,
        permissions=PERMISSIONS,
        migrations=MIGRATIONS,
    )


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
