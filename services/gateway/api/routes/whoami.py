"""GET /api/v1/whoami: the caller's token, as the gateway sees it."""

from __future__ import annotations

from fastapi import APIRouter

from mlops.kernel.auth import ROLE_PERMISSIONS
from services.gateway.api.deps import CurrentPrincipal
from services.gateway.api.models import WhoAmI

router = APIRouter(tags=["identity"])


@router.get("/whoami", response_model=WhoAmI)
async def whoami(principal: CurrentPrincipal) -> WhoAmI:
    return WhoAmI(
        subject=principal.subject,
        role=principal.role.value,
        token_id=principal.token_id,
        permissions=sorted(p.value for p in ROLE_PERMISSIONS[principal.role]),
    )
