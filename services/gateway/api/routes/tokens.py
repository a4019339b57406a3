"""/api/v1/tokens: create (the secret is returned once), list and revoke API tokens. Admins only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from mlops.kernel.auth import Permission, Principal
from services.gateway.api.deps import Gateway, audit_resource, require_permission
from services.gateway.api.models import CreatedToken, CreateTokenRequest, TokenInfo, TokenList

router = APIRouter(prefix="/tokens", tags=["tokens"])

TokenAdmin = Annotated[Principal, Depends(require_permission(Permission.TOKENS_MANAGE))]


@router.post("", response_model=CreatedToken, status_code=status.HTTP_201_CREATED)
async def create_token(
    body: CreateTokenRequest, request: Request, gateway: Gateway, principal: TokenAdmin
) -> CreatedToken:
    record, secret = await gateway.tokens.create(
        principal,
        role=body.role,
        subject=body.subject,
        description=body.description,
        ttl_seconds=body.ttl_seconds,
    )
    audit_resource(request, f"tokens/{record.token_id} role={record.role.value} subject={record.subject}")
    return CreatedToken(token=secret, info=TokenInfo.of(record))


@router.get("", response_model=TokenList)
async def list_tokens(gateway: Gateway, principal: TokenAdmin, include_revoked: bool = False) -> TokenList:
    records = await gateway.tokens.list_tokens(principal, include_revoked=include_revoked)
    return TokenList(tokens=[TokenInfo.of(r) for r in records])


@router.delete("/{token_id}", response_model=TokenInfo)
async def revoke_token(token_id: str, request: Request, gateway: Gateway, principal: TokenAdmin) -> TokenInfo:
    audit_resource(request, f"tokens/{token_id}")
    return TokenInfo.of(await gateway.tokens.revoke(principal, token_id))
