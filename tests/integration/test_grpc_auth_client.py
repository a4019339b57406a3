"""Client side of the gRPC layer: the token verifier's cache and fail-closed behaviour, and retries of
idempotent calls after UNAVAILABLE, against real loopback servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from mlops.api.dataset.v1 import dataset_pb2, dataset_pb2_grpc
from mlops.kernel import errors
from mlops.kernel.auth import Principal, Role
from mlops.kernel.grpcx import MethodPolicy, create_server, idempotent_methods, open_channel
from mlops.kernel.identity_client import TokenVerifier
from mlops.stack.ports import free_port
from services.dataset.permissions import PERMISSIONS
from tests.integration.test_grpc_auth import ADMIN, VIEWER, FixedIdentity, start_identity


@pytest.fixture
async def identity() -> AsyncIterator[tuple[str, FixedIdentity]]:
    server, address, servicer = await start_identity()
    yield address, servicer
    await server.stop(0)


async def test_known_token_resolves_to_its_principal(identity: tuple[str, FixedIdentity]) -> None:
    address, _ = identity
    verifier = TokenVerifier(address)
    try:
        principal = await verifier.verify(VIEWER)
    finally:
        await verifier.close()
    assert principal == Principal(subject="vera", role=Role.VIEWER, token_id=VIEWER[6:12])


async def test_unknown_tokens_are_cached_briefly(identity: tuple[str, FixedIdentity]) -> None:
    address, servicer = identity
    verifier = TokenVerifier(address, negative_ttl=0.2)
    try:
        assert await verifier.verify("mlops_nobody_x") is None
        assert await verifier.verify("mlops_nobody_x") is None
        assert servicer.calls == 1
        await asyncio.sleep(0.25)
        assert await verifier.verify("mlops_nobody_x") is None
        assert servicer.calls == 2
    finally:
        await verifier.close()


async def test_known_tokens_are_cached_until_their_ttl(identity: tuple[str, FixedIdentity]) -> None:
    address, servicer = identity
    verifier = TokenVerifier(address, positive_ttl=0.2)
    try:
        await verifier.verify(ADMIN)
        # Revoked at the identity service: still accepted here until the cache entry expires.
        servicer.tokens = {}
        assert await verifier.verify(ADMIN) is not None
        await asyncio.sleep(0.25)
        assert await verifier.verify(ADMIN) is None
        assert servicer.calls == 2
    finally:
        await verifier.close()


async def test_cache_is_bounded(identity: tuple[str, FixedIdentity]) -> None:
    address, servicer = identity
    verifier = TokenVerifier(address, max_entries=2)
    try:
        for token in ("mlops_a_x", "mlops_b_x", "mlops_c_x", "mlops_c_x", "mlops_a_x"):
            await verifier.verify(token)
    finally:
        await verifier.close()
    # a was evicted by c, so it was asked for twice.
    assert servicer.calls == 4


async def test_unreachable_identity_service_raises_unavailable() -> None:
    verifier = TokenVerifier(f"127.0.0.1:{free_port()}", timeout=0.5)
    try:
        with pytest.raises(errors.Unavailable):
            await verifier.verify(ADMIN)
        # Failures are not cached as "unknown token": the next request asks again.
        with pytest.raises(errors.Unavailable):
            await verifier.verify(ADMIN)
    finally:
        await verifier.close()


class FlakyApi(dataset_pb2_grpc.DatasetServiceServicer):
    """Answers UNAVAILABLE to the first call of each method."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def _flaky(self, method: str) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1
        if self.calls[method] == 1:
            raise errors.Unavailable("warming up")

    async def GetDataset(self, request: Any, context: Any) -> dataset_pb2.Dataset:
        self._flaky("GetDataset")
        return dataset_pb2.Dataset(id=request.dataset_id)

    async def CreateDataset(self, request: Any, context: Any) -> dataset_pb2.Dataset:
        self._flaky("CreateDataset")
        return dataset_pb2.Dataset(name=request.name)


class AdminVerifier:
    async def verify(self, token: str) -> Principal | None:
        return Principal(subject="ada", role=Role.ADMIN)


async def test_only_idempotent_calls_are_retried_after_unavailable() -> None:
    api = FlakyApi()
    server = create_server(MethodPolicy(PERMISSIONS), AdminVerifier(), None)
    dataset_pb2_grpc.add_DatasetServiceServicer_to_server(api, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with open_channel(
            f"127.0.0.1:{port}", token=ADMIN, idempotent=idempotent_methods(PERMISSIONS)
        ) as channel:
            stub = dataset_pb2_grpc.DatasetServiceStub(channel)
            fetched = await stub.GetDataset(dataset_pb2.GetDatasetRequest(dataset_id="d1"))
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await stub.CreateDataset(dataset_pb2.CreateDatasetRequest(name="x"))
    finally:
        await server.stop(0)
    assert fetched.id == "d1"
    assert api.calls == {"GetDataset": 2, "CreateDataset": 1}
    assert failed.value.code() is grpc.StatusCode.UNAVAILABLE
