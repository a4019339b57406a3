"""GET /healthz: every service's gRPC health, rolled up. Public, for probes and `mlops status`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.gateway.api.deps import Gateway
from services.gateway.api.models import ComponentHealthModel, HealthReport
from services.gateway.health import HEALTHY

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    response_model=HealthReport,
    responses={503: {"model": HealthReport, "description": "Some component is not healthy"}},
)
async def healthz(gateway: Gateway) -> JSONResponse:
    health = await gateway.health.check()
    report = HealthReport(
        status=health.status,
        components={
            name: ComponentHealthModel(status=c.status, detail=c.detail, address=c.address)
            for name, c in health.components.items()
        },
    )
    return JSONResponse(report.model_dump(), status_code=200 if health.status == HEALTHY else 503)
