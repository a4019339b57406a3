"""Request dependencies: the gateway's shared context and the caller, resolved from a bearer token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from mlops.kernel.auth import Permission, Principal, bearer_token
from services.gateway.context import GatewayContext
from services.gateway.service import require

# Keys in the request's state that the audit middleware reads after the response.
PRINCIPAL_STATE = "principal"
RESOURCE_STATE = "audit_resource"


def gateway_context(request: Request) -> GatewayContext:
    context: GatewayContext = request.app.state.gateway
    return context


Gateway = Annotated[GatewayContext, Depends(gateway_context)]


async def current_principal(request: Request, gateway: Gateway) -> Principal:
    """The token's principal; Unauthenticated (401) without an active token."""
    token = bearer_token(request.headers.get("authorization"))
    principal = await gateway.tokens.authenticate(token)
    setattr(request.state, PRINCIPAL_STATE, principal)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_permission(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """A dependency giving the caller if their role grants `permission`; PermissionDenied (403) if not."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        require(principal, permission)
        return principal

    return dependency


def audit_resource(request: Request, resource: str) -> None:
    """Name what a request acted on, for its audit row (the path is used otherwise)."""
    setattr(request.state, RESOURCE_STATE, resource)
