"""The server interceptor: tracing, authentication, authorisation, audit and error mapping.

One interceptor rather than a chain, because the audit row needs all of it at once: the caller from
authentication, the outcome from error mapping and the trace id from tracing.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import grpc
from opentelemetry import metrics, trace

from mlops.kernel.audit import (
    OUTCOME_DENIED,
    OUTCOME_ERROR,
    OUTCOME_OK,
    OUTCOME_UNAUTHENTICATED,
    AuditEntry,
    AuditRecorder,
)
from mlops.kernel.auth import Principal, bearer_token, current_principal
from mlops.kernel.errors import DomainError, PermissionDenied, Unauthenticated
from mlops.kernel.grpcx.policy import MethodPolicy
from mlops.kernel.grpcx.status import RpcStatus, status_of
from mlops.kernel.grpcx.tracing import current_trace_id, extract_context, tracer

log = logging.getLogger(__name__)

_meter = metrics.get_meter("mlops.grpc")
_duration = _meter.create_histogram(
    "rpc.server.duration", unit="ms", description="Time to handle a gRPC call, by method and status"
)

_OUTCOMES = {
    grpc.StatusCode.OK: OUTCOME_OK,
    grpc.StatusCode.UNAUTHENTICATED: OUTCOME_UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED: OUTCOME_DENIED,
}
_REFUSALS = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


class Verifier(Protocol):
    async def verify(self, token: str) -> Principal | None: ...


class _Refused(Exception):
    """Raised before the handler runs: the caller is unknown or not allowed."""

    def __init__(self, error: DomainError, principal: Principal | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.principal = principal


def _resource_of(request: Any, *, nested: bool = True) -> str:
    """The ids a request names (`dataset_id=...`), for the audit row's resource column; also those of
    a message it holds (a stream's first message often wraps them in a header)."""
    fields = getattr(request, "ListFields", None)
    if fields is None:
        return ""
    parts = []
    for descriptor, value in fields():
        if isinstance(value, str | int) and not isinstance(value, bool):
            if descriptor.name.endswith("_id") or descriptor.name in _RESOURCE_FIELDS:
                parts.append(f"{descriptor.name}={value}")
        elif nested and hasattr(value, "ListFields"):
            parts.append(_resource_of(value, nested=False))
    return " ".join(part for part in parts if part)


async def _noting_resource(requests: AsyncIterator[Any], call: _Call) -> AsyncIterator[Any]:
    """A request stream that records what its first message names as the call's resource."""
    first = True
    async for message in requests:
        if first:
            call.resource = _resource_of(message)
            first = False
        yield message


# Request fields that name what a call acts on, besides any `*_id`.
_RESOURCE_FIELDS = frozenset({"name", "model", "number", "version", "alias", "deployment"})


class _Call:
    """One call's state: its method, caller, named resource and start time."""

    def __init__(
        self, interceptor: ServerInterceptor, method: str, context: grpc.aio.ServicerContext
    ) -> None:
        self.interceptor = interceptor
        self.method = method
        self.context = context
        self.principal: Principal | None = None
        self.resource = ""
        self.started = time.perf_counter()

    async def authorise(self) -> None:
        policy = self.interceptor.policy
        if policy.is_public(self.method):
            return
        metadata = dict(self.context.invocation_metadata() or ())
        token = bearer_token(metadata.get("authorization"))
        if token is None:
            raise _Refused(Unauthenticated("missing bearer token"), None)
        principal = await self.interceptor.verifier.verify(token)
        if principal is None:
            raise _Refused(Unauthenticated("invalid, expired or revoked token"), None)
        self.principal = principal
        permission = policy.permission_for(self.method)
        if permission is None:
            raise _Refused(PermissionDenied(f"method {self.method} is not open to callers"), principal)
        if not principal.can(permission):
            raise _Refused(
                PermissionDenied(f"role {principal.role.value} lacks permission {permission.value}"),
                principal,
            )

    async def fail(self, exc: BaseException) -> None:
        """Record and answer a failure; always raises (grpc's abort does)."""
        if isinstance(exc, _Refused):
            self.principal = exc.principal
            status = status_of(exc.error)
        else:
            status = status_of(exc, trace_id=current_trace_id())
            if status.code is grpc.StatusCode.INTERNAL:
                log.exception("unhandled error in %s", self.method, exc_info=exc)
        trace.get_current_span().set_status(trace.StatusCode.ERROR, status.details)
        await self.finish(status)
        await self.context.abort(status.code, status.details, status.trailing_metadata)

    async def finish(self, status: RpcStatus) -> None:
        elapsed_ms = (time.perf_counter() - self.started) * 1000
        _duration.record(elapsed_ms, {"rpc.method": self.method, "rpc.grpc.status_code": status.code.name})
        # Refusals are audited for reads too; a servicer's own require() refusals count as such.
        if status.code in _REFUSALS or self.interceptor.policy.is_audited(self.method):
            await self.audit(status)

    async def audit(self, status: RpcStatus) -> None:
        recorder = self.interceptor.recorder
        if recorder is None:
            return
        outcome = _OUTCOMES.get(status.code, OUTCOME_ERROR)
        detail = "" if status.code is grpc.StatusCode.OK else f"{status.code.name}: {status.details}"
        entry = AuditEntry(
            actor=self.principal.subject if self.principal else "anonymous",
            role=self.principal.role.value if self.principal else "",
            action=self.method,
            resource=self.resource,
            outcome=outcome,
            detail=detail,
            trace_id=current_trace_id(),
        )
        try:
            await recorder.record(entry)
        except Exception:
            # The call's own outcome stands; a lost audit row must at least be loud.
            log.exception("could not write audit record for %s", self.method)

    def aborted_status(self) -> RpcStatus:
        """The status a handler set with context.abort or context.set_code."""
        code = self.context.code()
        if not isinstance(code, grpc.StatusCode):
            code = grpc.StatusCode.UNKNOWN
        return RpcStatus(code, self.context.details() or "")


class ServerInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self, policy: MethodPolicy, verifier: Verifier, recorder: AuditRecorder | None = None
    ) -> None:
        self.policy = policy
        self.verifier = verifier
        self.recorder = recorder

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        if handler.request_streaming and handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(
                self._streaming(method, handler.stream_stream, streaming_request=True),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.request_streaming:
            return grpc.stream_unary_rpc_method_handler(
                self._unary(method, handler.stream_unary, streaming_request=True),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(
                self._streaming(method, handler.unary_stream, streaming_request=False),
                handler.request_deserializer,
                handler.response_serializer,
            )
        return grpc.unary_unary_rpc_method_handler(
            self._unary(method, handler.unary_unary, streaming_request=False),
            handler.request_deserializer,
            handler.response_serializer,
        )

    def _unary(self, method: str, behavior: Any, *, streaming_request: bool) -> Any:
        async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
            call = _Call(self, method, context)
            if streaming_request:
                request = _noting_resource(request, call)
            else:
                call.resource = _resource_of(request)
            parent = extract_context(context.invocation_metadata())
            with tracer.start_as_current_span(method, context=parent, kind=trace.SpanKind.SERVER):
                try:
                    await call.authorise()
                except Exception as exc:
                    await call.fail(exc)
                principal_token = current_principal.set(call.principal)
                try:
                    response = behavior(request, context)
                    if inspect.isawaitable(response):
                        response = await response
                except grpc.aio.AbortError:
                    await call.finish(call.aborted_status())
                    raise
                except Exception as exc:
                    await call.fail(exc)
                finally:
                    _reset(principal_token)
                code = context.code()
                if isinstance(code, grpc.StatusCode) and code is not grpc.StatusCode.OK:
                    await call.finish(call.aborted_status())
                else:
                    await call.finish(RpcStatus(grpc.StatusCode.OK, ""))
                return response

        return handle

    def _streaming(self, method: str, behavior: Any, *, streaming_request: bool) -> Any:
        async def handle(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            call = _Call(self, method, context)
            if streaming_request:
                request = _noting_resource(request, call)
            else:
                call.resource = _resource_of(request)
            parent = extract_context(context.invocation_metadata())
            with tracer.start_as_current_span(method, context=parent, kind=trace.SpanKind.SERVER):
                try:
                    await call.authorise()
                except Exception as exc:
                    await call.fail(exc)
                principal_token = current_principal.set(call.principal)
                try:
                    responses = behavior(request, context)
                    if inspect.isasyncgen(responses):
                        async for item in responses:
                            yield item
                    elif inspect.isawaitable(responses):
                        await responses
                    else:
                        for item in responses:
                            yield item
                except grpc.aio.AbortError:
                    await call.finish(call.aborted_status())
                    raise
                except Exception as exc:
                    await call.fail(exc)
                finally:
                    _reset(principal_token)
                await call.finish(RpcStatus(grpc.StatusCode.OK, ""))

        return handle


def _reset(token: Any) -> None:
    # A streaming handler may be resumed in another context than the one it set the principal in.
    with contextlib.suppress(ValueError):
        current_principal.reset(token)
