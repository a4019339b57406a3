"""The token operations, written once; REST routes and the identity gRPC servicer are thin adapters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from mlops.kernel.auth import Permission, Principal, Role, parse_role, token_id_of
from mlops.kernel.errors import FailedPrecondition, NotFound, PermissionDenied, Unauthenticated
from services.gateway.domain import ApiToken, issue_token, utcnow
from services.gateway.store import TokenStore


def require(principal: Principal, permission: Permission) -> None:
    if not principal.can(permission):
        raise PermissionDenied(f"role {principal.role.value} lacks {permission.value}")


class TokenService:
    def __init__(self, store: TokenStore, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.clock = clock

    async def introspect(self, token: str) -> Principal | None:
        """The principal an active token stands for; None for anything else, without saying why."""
        token_id = token_id_of(token)
        if token_id is None:
            return None
        record = await self.store.get(token_id)
        if record is None or not record.matches(token) or not record.is_active(self.clock()):
            return None
        return record.principal()

    async def verify(self, token: str) -> Principal | None:
        """The kernel's Verifier: the gateway's gRPC server resolves callers from its own store."""
        return await self.introspect(token)

    async def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise Unauthenticated("an API token is required (Authorization: Bearer <token>)")
        principal = await self.introspect(token)
        if principal is None:
            raise Unauthenticated("the token is unknown, revoked or expired")
        return principal

    async def create(
        self,
        actor: Principal,
        *,
        role: str,
        subject: str = "",
        description: str = "",
        ttl_seconds: int = 0,
    ) -> tuple[ApiToken, str]:
        require(actor, Permission.TOKENS_MANAGE)
        record, secret = issue_token(
            role=parse_role(role),
            subject=subject,
            description=description,
            ttl_seconds=ttl_seconds,
            created_by=actor.subject,
            now=self.clock(),
        )
        await self.store.add(record)
        return record, secret

    async def list_tokens(self, actor: Principal, *, include_revoked: bool = False) -> list[ApiToken]:
        require(actor, Permission.TOKENS_MANAGE)
        return await self.store.list_tokens(include_revoked=include_revoked)

    async def revoke(self, actor: Principal, token_id: str) -> ApiToken:
        require(actor, Permission.TOKENS_MANAGE)
        record = await self.store.get(token_id)
        if record is None:
            raise NotFound(f"no token {token_id}", field="token_id")
        now = self.clock()
        if record.role is Role.ADMIN and record.is_active(now) and await self._is_last_admin(record, now):
            # Without an admin token nobody could manage tokens until the gateway restarts.
            raise FailedPrecondition("this is the last active admin token; create another admin token first")
        revoked = record.revoke(now)
        if revoked is not record:
            await self.store.save_revocation(revoked)
        return revoked

    async def _is_last_admin(self, record: ApiToken, now: datetime) -> bool:
        admins = [t for t in await self.store.list_tokens() if t.role is Role.ADMIN and t.is_active(now)]
        return [t.token_id for t in admins] == [record.token_id]
