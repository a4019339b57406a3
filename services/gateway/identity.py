"""mlops.identity.v1.IdentityService over gRPC: Introspect for every service, token management for admins.

The kernel's interceptor authenticates (against the gateway's own store, not through Introspect),
authorises, audits and maps errors; these methods only translate between protobuf and TokenService.
"""

from __future__ import annotations

from datetime import datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from mlops.api.identity.v1 import identity_pb2, identity_pb2_grpc
from mlops.kernel.audit import AUDIT_PERMISSIONS
from mlops.kernel.grpcx import context as caller
from mlops.kernel.grpcx.policy import IDENTITY_PERMISSIONS, MethodPolicy
from services.gateway.domain import ApiToken
from services.gateway.service import TokenService

SERVICE_NAME = identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name

# What the gateway's gRPC server serves: identity (Introspect public) and its own audit log.
GATEWAY_POLICY = MethodPolicy({**IDENTITY_PERMISSIONS, **AUDIT_PERMISSIONS})


def _timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def token_info(record: ApiToken) -> identity_pb2.TokenInfo:
    return identity_pb2.TokenInfo(
        token_id=record.token_id,
        subject=record.subject,
        role=record.role.value,
        description=record.description,
        created_at=_timestamp(record.created_at),
        expires_at=_timestamp(record.expires_at),
        revoked_at=_timestamp(record.revoked_at),
        created_by=record.created_by,
    )


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self, tokens: TokenService) -> None:
        self.tokens = tokens

    async def Introspect(
        self, request: identity_pb2.IntrospectRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.IntrospectResponse:
        principal = await self.tokens.introspect(request.token)
        if principal is None:
            return identity_pb2.IntrospectResponse(active=False)
        return identity_pb2.IntrospectResponse(
            active=True,
            principal=identity_pb2.Principal(
                subject=principal.subject, role=principal.role.value, token_id=principal.token_id
            ),
        )

    async def CreateToken(
        self, request: identity_pb2.CreateTokenRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.CreateTokenResponse:
        record, secret = await self.tokens.create(
            caller.principal(),
            role=request.role,
            subject=request.subject,
            description=request.description,
            ttl_seconds=request.ttl_seconds,
        )
        return identity_pb2.CreateTokenResponse(info=token_info(record), token=secret)

    async def ListTokens(
        self, request: identity_pb2.ListTokensRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListTokensResponse:
        records = await self.tokens.list_tokens(caller.principal(), include_revoked=request.include_revoked)
        return identity_pb2.ListTokensResponse(tokens=[token_info(r) for r in records])

    async def RevokeToken(
        self, request: identity_pb2.RevokeTokenRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.RevokeTokenResponse:
        record = await self.tokens.revoke(caller.principal(), request.token_id)
        return identity_pb2.RevokeTokenResponse(info=token_info(record))
