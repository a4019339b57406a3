"""Who may invoke a model: a token with serving:invoke, unless the model is public."""

from __future__ import annotations

from mlops.kernel.auth import Permission, Principal, bearer_token
from mlops.kernel.errors import PermissionDenied, Unauthenticated
from mlops.kernel.identity_client import TokenVerifier


class InvokeAuthorizer:
    """`verifier` None means the worker runs without authentication (every model public): the
    embedded stack's and the bench's choice, never the default of a deployed worker."""

    def __init__(self, verifier: TokenVerifier | None) -> None:
        self.verifier = verifier

    async def authorize(self, public: bool, authorization: str | None) -> Principal | None:
        if public or self.verifier is None:
            return None
        token = bearer_token(authorization)
        if not token:
            raise Unauthenticated("send a token with serving:invoke as 'authorization: Bearer <token>'")
        principal = await self.verifier.verify(token)
        if principal is None:
            raise Unauthenticated("the token is unknown, expired or revoked")
        if not principal.can(Permission.SERVING_INVOKE):
            raise PermissionDenied(f"role {principal.role} may not invoke models (needs serving:invoke)")
        return principal
