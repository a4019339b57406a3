"""mlops.identity.v1.IdentityService over real gRPC: public Introspect, admin-only token management,
refusals and mutations audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from mlops.api.audit.v1 import audit_pb2, audit_pb2_grpc
from mlops.api.identity.v1 import identity_pb2, identity_pb2_grpc
from services.gateway.main import Gateway
from tests.integration.test_gateway_support import (
    admin_token,
    create_token,
    gateway_settings,
    http_client,
    running_gateway,
)


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with running_gateway(gateway_settings(tmp_path)) as running:
        yield running


@pytest.fixture
async def identity(gateway: Gateway) -> AsyncIterator[identity_pb2_grpc.IdentityServiceStub]:
    async with grpc.aio.insecure_channel(gateway.settings.identity_address) as channel:
        yield identity_pb2_grpc.IdentityServiceStub(channel)


def _auth(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


async def test_introspect_resolves_active_tokens_without_credentials(
    gateway: Gateway, identity: identity_pb2_grpc.IdentityServiceStub
) -> None:
    created = await create_token(gateway, "mlops-engineer", subject="ops")
    reply = await identity.Introspect(identity_pb2.IntrospectRequest(token=created["token"]), timeout=5)
    assert reply.active
    assert (reply.principal.subject, reply.principal.role) == ("ops", "mlops-engineer")
    assert reply.principal.token_id == created["info"]["token_id"]
    for bogus in ("", "not-a-token", created["token"] + "x", "mlops_000000000000_secret"):
        assert not (await identity.Introspect(identity_pb2.IntrospectRequest(token=bogus), timeout=5)).active


async def test_admin_creates_lists_and_revokes_tokens_over_grpc(
    gateway: Gateway, identity: identity_pb2_grpc.IdentityServiceStub
) -> None:
    admin = _auth(admin_token(gateway.settings))
    created = await identity.CreateToken(
        identity_pb2.CreateTokenRequest(subject="bot", role="viewer", ttl_seconds=3600),
        metadata=admin,
        timeout=5,
    )
    assert created.token.startswith(f"mlops_{created.info.token_id}_")
    assert created.info.expires_at.seconds > created.info.created_at.seconds
    listed = await identity.ListTokens(identity_pb2.ListTokensRequest(), metadata=admin, timeout=5)
    assert created.info.token_id in {t.token_id for t in listed.tokens}
    revoked = await identity.RevokeToken(
        identity_pb2.RevokeTokenRequest(token_id=created.info.token_id), metadata=admin, timeout=5
    )
    assert revoked.info.HasField("revoked_at")
    introspected = await identity.Introspect(identity_pb2.IntrospectRequest(token=created.token), timeout=5)
    assert not introspected.active


async def test_token_management_refuses_and_audits_callers_without_permission(
    gateway: Gateway, identity: identity_pb2_grpc.IdentityServiceStub
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await identity.CreateToken(identity_pb2.CreateTokenRequest(role="admin"), timeout=5)
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    viewer = await create_token(gateway, "viewer", subject="peeker")
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await identity.ListTokens(
            identity_pb2.ListTokensRequest(), metadata=_auth(viewer["token"]), timeout=5
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await identity.CreateToken(
            identity_pb2.CreateTokenRequest(role="emperor"),
            metadata=_auth(admin_token(gateway.settings)),
            timeout=5,
        )
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert ("field", "role") in tuple(invalid.value.trailing_metadata() or ())

    async with http_client(gateway, admin_token(gateway.settings)) as client:
        rows = (await client.get("/api/v1/audit")).json()["records"]
    grpc_rows = {(r["actor"], r["action"], r["outcome"]) for r in rows if r["action"].startswith("/")}
    assert grpc_rows == {
        ("anonymous", "/mlops.identity.v1.IdentityService/CreateToken", "unauthenticated"),
        ("peeker", "/mlops.identity.v1.IdentityService/ListTokens", "denied"),
        ("admin", "/mlops.identity.v1.IdentityService/CreateToken", "error"),
    }


async def test_gateway_audit_log_is_served_over_grpc_to_auditors(gateway: Gateway) -> None:
    auditor = await create_token(gateway, "auditor", subject="aud")
    viewer = await create_token(gateway, "viewer")
    async with grpc.aio.insecure_channel(gateway.settings.identity_address) as channel:
        audit = audit_pb2_grpc.AuditServiceStub(channel)
        reply = await audit.ListAuditRecords(
            audit_pb2.ListAuditRecordsRequest(), metadata=_auth(auditor["token"]), timeout=5
        )
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await audit.ListAuditRecords(audit_pb2.ListAuditRecordsRequest(), metadata=_auth(viewer["token"]))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    created = [r for r in reply.records if r.action == "POST /api/v1/tokens" and r.outcome == "ok"]
    assert len(created) == 2
