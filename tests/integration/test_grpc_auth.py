"""The server interceptor end to end over a real loopback grpc.aio server: authentication against a
real (in-test) identity service, permission checks, the audit log, error mapping and deadlines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from opentelemetry import trace
from sqlalchemy import select

from mlops.api.audit.v1 import audit_pb2, audit_pb2_grpc
from mlops.api.common.v1 import common_pb2
from mlops.api.dataset.v1 import dataset_pb2, dataset_pb2_grpc
from mlops.api.identity.v1 import identity_pb2, identity_pb2_grpc
from mlops.kernel import errors
from mlops.kernel.audit import AUDIT_PERMISSIONS, AuditRecorder, AuditServicer
from mlops.kernel.auth import Permission, Role
from mlops.kernel.db import Database, migrate_async
from mlops.kernel.grpcx import MethodPolicy, create_server, open_channel, principal, require
from mlops.kernel.identity_client import TokenVerifier
from mlops.kernel.tables import audit_log
from services.dataset.permissions import PERMISSIONS as DATASET_PERMISSIONS

TOKENS = {
    "mlops_viewer_s3cret": ("vera", Role.VIEWER),
    "mlops_scientist_s3cret": ("sam", Role.DATA_SCIENTIST),
    "mlops_auditor_s3cret": ("alex", Role.AUDITOR),
    "mlops_admin_s3cret": ("ada", Role.ADMIN),
}
VIEWER, SCIENTIST, AUDITOR, ADMIN = TOKENS


class FixedIdentity(identity_pb2_grpc.IdentityServiceServicer):
    """An identity service that knows a fixed set of tokens and counts introspections."""

    def __init__(self, tokens: dict[str, tuple[str, Role]]) -> None:
        self.tokens = tokens
        self.calls = 0

    async def Introspect(self, request: Any, context: Any) -> identity_pb2.IntrospectResponse:
        self.calls += 1
        known = self.tokens.get(request.token)
        if known is None:
            return identity_pb2.IntrospectResponse(active=False)
        subject, role = known
        return identity_pb2.IntrospectResponse(
            active=True,
            principal=identity_pb2.Principal(subject=subject, role=role.value, token_id=request.token[6:12]),
        )


async def start_identity(
    tokens: dict[str, tuple[str, Role]] = TOKENS,
) -> tuple[grpc.aio.Server, str, FixedIdentity]:
    server = grpc.aio.server()
    identity = FixedIdentity(tokens)
    identity_pb2_grpc.add_IdentityServiceServicer_to_server(identity, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}", identity


ERRORS: dict[str, tuple[errors.DomainError, grpc.StatusCode]] = {
    "invalid": (errors.InvalidArgument("must not be empty", field="name"), grpc.StatusCode.INVALID_ARGUMENT),
    "missing": (errors.NotFound("no such dataset", field="dataset_id"), grpc.StatusCode.NOT_FOUND),
    "exists": (errors.AlreadyExists("name taken", field="name"), grpc.StatusCode.ALREADY_EXISTS),
    "precondition": (errors.FailedPrecondition("version is archived"), grpc.StatusCode.FAILED_PRECONDITION),
    "denied": (errors.PermissionDenied("not the owner"), grpc.StatusCode.PERMISSION_DENIED),
    "conflict": (errors.Conflict("changed meanwhile"), grpc.StatusCode.ABORTED),
}


class DatasetApiUnderTest(dataset_pb2_grpc.DatasetServiceServicer):
    """Just enough behaviour to exercise the interceptor."""

    async def CreateDataset(self, request: Any, context: Any) -> dataset_pb2.Dataset:
        return dataset_pb2.Dataset(id="d1", name=request.name, owner=principal().subject)

    async def GetDataset(self, request: Any, context: Any) -> dataset_pb2.Dataset:
        if request.dataset_id in ERRORS:
            raise ERRORS[request.dataset_id][0]
        if request.dataset_id == "boom":
            raise RuntimeError("secret internals")
        if request.dataset_id == "abort":
            await context.abort(grpc.StatusCode.OUT_OF_RANGE, "aborted by handler")
        return dataset_pb2.Dataset(id=request.dataset_id, owner=principal().subject)

    async def ListDatasets(self, request: Any, context: Any) -> dataset_pb2.ListDatasetsResponse:
        await asyncio.sleep(5)
        return dataset_pb2.ListDatasetsResponse()

    async def DeleteDataset(self, request: Any, context: Any) -> dataset_pb2.DeleteDatasetResponse:
        # A finer check than the method's permission, as a servicer would make for an owner rule.
        require(Permission.TOKENS_MANAGE)
        return dataset_pb2.DeleteDatasetResponse()

    async def UpdateDataset(self, request: Any, context: Any) -> dataset_pb2.Dataset:
        raise errors.NotFound("no such dataset", field="dataset_id")

    async def UploadSamples(self, request_iterator: Any, context: Any) -> dataset_pb2.UploadSamplesResponse:
        received = 0
        async for part in request_iterator:
            received += len(part.chunk)
        return dataset_pb2.UploadSamplesResponse(bytes_received=received)

    async def DownloadVersion(self, request: Any, context: Any) -> AsyncIterator[dataset_pb2.DownloadChunk]:
        for index in range(3):
            yield dataset_pb2.DownloadChunk(data=bytes([index]) * 4, file_name=f"part-{index}")


@dataclass
class Stack:
    db: Database
    address: str
    identity: FixedIdentity

    def channel(self, token: str | None = None, timeout: float | None = 5.0) -> grpc.aio.Channel:
        return open_channel(self.address, token=token, default_timeout=timeout)

    async def audit_rows(self) -> list[Any]:
        async with self.db.sessions() as session:
            return list((await session.execute(select(audit_log).order_by(audit_log.c.seq))).all())


async def _start_stack(url: str, identity_address: str | None = None) -> AsyncIterator[Stack]:
    await migrate_async(url, None)
    db = Database(url)
    identity_server, address, identity = await start_identity()
    verifier = TokenVerifier(identity_address or address, timeout=1.0)
    policy = MethodPolicy({**DATASET_PERMISSIONS, **AUDIT_PERMISSIONS})
    server = create_server(policy, verifier, AuditRecorder(db, "dataset"))
    dataset_pb2_grpc.add_DatasetServiceServicer_to_server(DatasetApiUnderTest(), server)
    audit_pb2_grpc.add_AuditServiceServicer_to_server(AuditServicer(db), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield Stack(db, f"127.0.0.1:{port}", identity)
    finally:
        await server.stop(0)
        await identity_server.stop(0)
        await verifier.close()
        await db.dispose()


@pytest.fixture
async def stack(database_url: str) -> AsyncIterator[Stack]:
    """On SQLite and PostgreSQL: what the audit log stores is checked on both."""
    async for value in _start_stack(database_url):
        yield value


@pytest.fixture
async def sqlite_stack(sqlite_url: str) -> AsyncIterator[Stack]:
    async for value in _start_stack(sqlite_url):
        yield value


async def test_request_without_token_is_refused_and_audited(stack: Stack) -> None:
    async with stack.channel() as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await dataset_pb2_grpc.DatasetServiceStub(channel).CreateDataset(
                dataset_pb2.CreateDatasetRequest(name="images")
            )
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    [row] = await stack.audit_rows()
    assert row.outcome == "unauthenticated"
    assert row.actor == "anonymous"
    assert row.action == "/mlops.dataset.v1.DatasetService/CreateDataset"
    assert row.service == "dataset"
    assert "UNAUTHENTICATED" in row.detail


async def test_unknown_token_is_refused_and_audited_even_for_reads(stack: Stack) -> None:
    async with stack.channel("mlops_nobody_s3cret") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await dataset_pb2_grpc.DatasetServiceStub(channel).GetDataset(
                dataset_pb2.GetDatasetRequest(dataset_id="d1")
            )
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    [row] = await stack.audit_rows()
    assert (row.outcome, row.action, row.resource) == (
        "unauthenticated",
        "/mlops.dataset.v1.DatasetService/GetDataset",
        "dataset_id=d1",
    )


async def test_viewer_calling_a_mutation_is_denied_and_audited(stack: Stack) -> None:
    async with stack.channel(VIEWER) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await dataset_pb2_grpc.DatasetServiceStub(channel).CreateDataset(
                dataset_pb2.CreateDatasetRequest(name="images")
            )
    assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "dataset:write" in (refused.value.details() or "")
    [row] = await stack.audit_rows()
    assert (row.outcome, row.actor, row.role) == ("denied", "vera", "viewer")
    assert row.resource == "name=images"


async def test_allowed_mutation_is_audited_ok_and_reads_are_not(stack: Stack) -> None:
    async with stack.channel(SCIENTIST) as channel:
        stub = dataset_pb2_grpc.DatasetServiceStub(channel)
        created = await stub.CreateDataset(dataset_pb2.CreateDatasetRequest(name="images"))
        fetched = await stub.GetDataset(dataset_pb2.GetDatasetRequest(dataset_id="d1"))
    assert created.owner == "sam"
    assert fetched.owner == "sam"
    [row] = await stack.audit_rows()
    assert (row.outcome, row.actor, row.role, row.detail) == ("ok", "sam", "data-scientist", "")
    assert row.at is not None


async def test_failed_mutation_is_audited_with_its_status(stack: Stack) -> None:
    async with stack.channel(SCIENTIST) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await dataset_pb2_grpc.DatasetServiceStub(channel).UpdateDataset(
                dataset_pb2.UpdateDatasetRequest()
            )
    assert failed.value.code() is grpc.StatusCode.NOT_FOUND
    [row] = await stack.audit_rows()
    assert row.outcome == "error"
    assert row.detail.startswith("NOT_FOUND")


async def test_finer_check_in_servicer_is_denied_and_audited(stack: Stack) -> None:
    async with stack.channel(SCIENTIST) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await dataset_pb2_grpc.DatasetServiceStub(channel).DeleteDataset(
                dataset_pb2.DeleteDatasetRequest(dataset_id="d1")
            )
    assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
    [row] = await stack.audit_rows()
    assert (row.outcome, row.resource) == ("denied", "dataset_id=d1")


async def test_audit_log_is_listed_for_auditors_only(stack: Stack) -> None:
    async with stack.channel(SCIENTIST) as channel:
        stub = dataset_pb2_grpc.DatasetServiceStub(channel)
        for name in ("a", "b", "c"):
            await stub.CreateDataset(dataset_pb2.CreateDatasetRequest(name=name))
    async with stack.channel(VIEWER) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await audit_pb2_grpc.AuditServiceStub(channel).ListAuditRecords(
                audit_pb2.ListAuditRecordsRequest()
            )
    assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
    async with stack.channel(AUDITOR) as channel:
        audit = audit_pb2_grpc.AuditServiceStub(channel)
        first = await audit.ListAuditRecords(
            audit_pb2.ListAuditRecordsRequest(page=common_pb2.PageRequest(page_size=2), actor="sam")
        )
        second = await audit.ListAuditRecords(
            audit_pb2.ListAuditRecordsRequest(
                page=common_pb2.PageRequest(page_size=2, page_token=first.page.next_page_token), actor="sam"
            )
        )
        denied = await audit.ListAuditRecords(audit_pb2.ListAuditRecordsRequest(outcome="denied"))
    assert [r.resource for r in first.records] == ["name=c", "name=b"]
    assert first.page.total_size == 3
    assert [r.resource for r in second.records] == ["name=a"]
    assert second.page.next_page_token == ""
    assert [(r.actor, r.action) for r in denied.records] == [
        ("vera", "/mlops.audit.v1.AuditService/ListAuditRecords")
    ]
    assert denied.records[0].at.seconds > 0


async def test_audit_rows_cannot_be_changed(stack: Stack) -> None:
    async with stack.channel() as channel:
        with pytest.raises(grpc.aio.AioRpcError):
            await dataset_pb2_grpc.DatasetServiceStub(channel).CreateDataset(
                dataset_pb2.CreateDatasetRequest()
            )
    with pytest.raises(Exception, match="append-only"):
        async with stack.db.transaction() as session:
            await session.execute(audit_log.delete())
    assert len(await stack.audit_rows()) == 1


@pytest.mark.parametrize("case", sorted(ERRORS))
async def test_domain_errors_map_to_status_codes(sqlite_stack: Stack, case: str) -> None:
    error, code = ERRORS[case]
    async with sqlite_stack.channel(VIEWER) as channel:
        call = dataset_pb2_grpc.DatasetServiceStub(channel).GetDataset(
            dataset_pb2.GetDatasetRequest(dataset_id=case)
        )
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await call
        trailing = dict(await call.trailing_metadata() or ())
    assert failed.value.code() is code
    assert failed.value.details() == str(error)
    if error.field:
        assert error.field in (failed.value.details() or "")
        assert trailing.get("field") == error.field
    else:
        assert "field" not in trailing


async def test_unexpected_error_is_internal_without_internals(sqlite_stack: Stack) -> None:
    async with sqlite_stack.channel(VIEWER) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await dataset_pb2_grpc.DatasetServiceStub(channel).GetDataset(
                dataset_pb2.GetDatasetRequest(dataset_id="boom")
            )
    assert failed.value.code() is grpc.StatusCode.INTERNAL
    assert "secret" not in (failed.value.details() or "")
    assert (failed.value.details() or "").startswith("internal error")


async def test_handler_abort_passes_through(sqlite_stack: Stack) -> None:
    async with sqlite_stack.channel(VIEWER) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await dataset_pb2_grpc.DatasetServiceStub(channel).GetDataset(
                dataset_pb2.GetDatasetRequest(dataset_id="abort")
            )
    assert failed.value.code() is grpc.StatusCode.OUT_OF_RANGE


async def test_unimplemented_method_answers_unimplemented(sqlite_stack: Stack) -> None:
    async with sqlite_stack.channel(ADMIN) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await dataset_pb2_grpc.DatasetServiceStub(channel).PublishVersion(
                dataset_pb2.PublishVersionRequest()
            )
    assert failed.value.code() is grpc.StatusCode.UNIMPLEMENTED
    [row] = await sqlite_stack.audit_rows()
    assert (row.outcome, row.actor) == ("error", "ada")


async def test_client_default_deadline_applies(sqlite_stack: Stack) -> None:
    async with sqlite_stack.channel(VIEWER, timeout=0.3) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await dataset_pb2_grpc.DatasetServiceStub(channel).ListDatasets(dataset_pb2.ListDatasetsRequest())
    assert failed.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED


async def test_streams_are_authorised_and_audited(sqlite_stack: Stack) -> None:
    async def parts() -> AsyncIterator[dataset_pb2.UploadSamplesRequest]:
        for _ in range(3):
            yield dataset_pb2.UploadSamplesRequest(chunk=b"xyz")

    async with sqlite_stack.channel() as channel:
        stub = dataset_pb2_grpc.DatasetServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in stub.DownloadVersion(dataset_pb2.DownloadVersionRequest(dataset_id="d1")):
                pass
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    async with sqlite_stack.channel(SCIENTIST) as channel:
        stub = dataset_pb2_grpc.DatasetServiceStub(channel)
        uploaded = await stub.UploadSamples(parts())
        chunks = [
            chunk.file_name async for chunk in stub.DownloadVersion(dataset_pb2.DownloadVersionRequest())
        ]
    assert uploaded.bytes_received == 9
    assert chunks == ["part-0", "part-1", "part-2"]
    rows = await sqlite_stack.audit_rows()
    assert [(r.action.rsplit("/", 1)[1], r.outcome) for r in rows] == [
        ("DownloadVersion", "unauthenticated"),
        ("UploadSamples", "ok"),
    ]


async def test_trace_context_reaches_the_audit_row(sqlite_stack: Stack) -> None:
    parent = trace.SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=False,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )
    async with sqlite_stack.channel(SCIENTIST) as channel:
        with trace.use_span(trace.NonRecordingSpan(parent)):
            await dataset_pb2_grpc.DatasetServiceStub(channel).CreateDataset(
                dataset_pb2.CreateDatasetRequest()
            )
    [row] = await sqlite_stack.audit_rows()
    assert row.trace_id == "0af7651916cd43dd8448eb211c80319c"


async def test_verified_tokens_are_cached(sqlite_stack: Stack) -> None:
    async with sqlite_stack.channel(VIEWER) as channel:
        stub = dataset_pb2_grpc.DatasetServiceStub(channel)
        await asyncio.gather(
            *(stub.GetDataset(dataset_pb2.GetDatasetRequest(dataset_id="d")) for _ in range(5))
        )
        await stub.GetDataset(dataset_pb2.GetDatasetRequest(dataset_id="d"))
    assert sqlite_stack.identity.calls == 1


@pytest.fixture
def closed_port() -> Iterator[int]:
    from mlops.stack.ports import free_port

    yield free_port()


async def test_unreachable_identity_service_fails_closed(sqlite_url: str, closed_port: int) -> None:
    async for stack in _start_stack(sqlite_url, identity_address=f"127.0.0.1:{closed_port}"):
        async with stack.channel(ADMIN) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await dataset_pb2_grpc.DatasetServiceStub(channel).CreateDataset(
                    dataset_pb2.CreateDatasetRequest(name="x")
                )
        assert failed.value.code() is grpc.StatusCode.UNAVAILABLE
        [row] = await stack.audit_rows()
        assert (row.outcome, row.actor) == ("error", "anonymous")
