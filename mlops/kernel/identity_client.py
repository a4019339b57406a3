"""Resolves API tokens to principals by asking the identity service, with a short-lived cache.

A revoked token keeps working for at most `positive_ttl` seconds in each process; that bound is the
price of not calling the identity service on every request. When the identity service cannot be
reached the request fails with UNAVAILABLE: a token is never accepted unchecked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict

import grpc

from mlops.api.identity.v1 import identity_pb2, identity_pb2_grpc
from mlops.kernel.auth import Principal, Role, hash_token
from mlops.kernel.errors import Unavailable
from mlops.kernel.grpcx.client import open_channel
from mlops.kernel.settings import TlsSettings

log = logging.getLogger(__name__)


class TokenVerifier:
    def __init__(
        self,
        identity_address: str,
        *,
        positive_ttl: float = 30.0,
        negative_ttl: float = 3.0,
        max_entries: int = 10_000,
        timeout: float = 2.0,
        tls: TlsSettings | None = None,
    ) -> None:
        self.identity_address = identity_address
        self.tls = tls
        self.positive_ttl = positive_ttl
        self.negative_ttl = negative_ttl
        self.max_entries = max_entries
        self.timeout = timeout
        self._channel: grpc.aio.Channel | None = None
        self._stub: identity_pb2_grpc.IdentityServiceStub | None = None
        # token hash -> (expires at, principal or None); the raw token is never kept.
        self._cache: OrderedDict[str, tuple[float, Principal | None]] = OrderedDict()
        # Concurrent first requests with one token share one introspection call.
        self._pending: dict[str, asyncio.Future[Principal | None]] = {}

    def _identity(self) -> identity_pb2_grpc.IdentityServiceStub:
        if self._stub is None:
            self._channel = open_channel(self.identity_address, default_timeout=self.timeout, tls=self.tls)
            self._stub = identity_pb2_grpc.IdentityServiceStub(self._channel)
        return self._stub

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
        self._channel = self._stub = None

    def _cached(self, key: str) -> tuple[bool, Principal | None]:
        entry = self._cache.get(key)
        if entry is None:
            return False, None
        expires_at, principal = entry
        if expires_at < time.monotonic():
            del self._cache[key]
            return False, None
        self._cache.move_to_end(key)
        return True, principal

    def _remember(self, key: str, principal: Principal | None) -> None:
        ttl = self.positive_ttl if principal is not None else self.negative_ttl
        self._cache[key] = (time.monotonic() + ttl, principal)
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)

    async def verify(self, token: str) -> Principal | None:
        """The token's principal, or None when the token is unknown, expired or revoked."""
        key = hash_token(token)
        hit, principal = self._cached(key)
        if hit:
            return principal
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Principal | None] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            principal = await self._introspect(token)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            # Waiters (if any) see the exception; mark it retrieved so a lone caller logs nothing.
            future.exception()
            raise
        finally:
            del self._pending[key]
        self._remember(key, principal)
        future.set_result(principal)
        return principal

    async def _introspect(self, token: str) -> Principal | None:
        try:
            reply = await self._identity().Introspect(
                identity_pb2.IntrospectRequest(token=token), timeout=self.timeout
            )
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "token introspection failed",
                extra={"fields": {"identity": self.identity_address, "code": exc.code().name}},
            )
            raise Unavailable("the identity service is unavailable; try again") from None
        if not reply.active:
            return None
        try:
            role = Role(reply.principal.role)
        except ValueError:
            log.warning("identity service returned unknown role %r", reply.principal.role)
            return None
        return Principal(subject=reply.principal.subject, role=role, token_id=reply.principal.token_id)
