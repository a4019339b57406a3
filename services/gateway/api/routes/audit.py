"""GET /api/v1/audit: the gateway's own audit log, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from mlops.kernel.auth import Permission, Principal
from services.gateway.api.deps import Gateway, require_permission
from services.gateway.api.models import AuditPage, AuditRecord
from services.gateway.audit_reader import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, AuditQuery, list_audit_records

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=AuditPage)
async def list_audit(
    gateway: Gateway,
    _principal: Annotated[Principal, Depends(require_permission(Permission.AUDIT_READ))],
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    page_token: str = "",
    actor: str = "",
    outcome: str = "",
) -> AuditPage:
    query = AuditQuery(page_size=page_size, page_token=page_token, actor=actor, outcome=outcome)
    records, next_token = await list_audit_records(gateway.db, query)
    return AuditPage(records=[AuditRecord(**r) for r in records], next_page_token=next_token)
