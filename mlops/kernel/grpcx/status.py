"""The one mapping from exceptions to gRPC statuses."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from mlops.kernel.errors import DomainError

# Trailing metadata key naming the offending request field, so clients can point at the input.
FIELD_METADATA_KEY = "field"


@dataclass(frozen=True)
class RpcStatus:
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str], ...] = ()


def grpc_code(code_name: str) -> grpc.StatusCode:
    """The status code named by a DomainError subclass; UNKNOWN for a name grpc does not know."""
    return grpc.StatusCode.__members__.get(code_name, grpc.StatusCode.UNKNOWN)


def status_of(exc: BaseException, *, trace_id: str = "") -> RpcStatus:
    """The status a caller sees for `exc`. Unexpected exceptions reveal nothing but the trace id."""
    if isinstance(exc, DomainError):
        metadata = ((FIELD_METADATA_KEY, exc.field),) if exc.field else ()
        return RpcStatus(grpc_code(exc.grpc_code_name), str(exc), metadata)
    if isinstance(exc, NotImplementedError):
        # The generated servicer bases raise this for methods a later issue will implement.
        return RpcStatus(grpc.StatusCode.UNIMPLEMENTED, "method not implemented")
    suffix = f" (trace {trace_id})" if trace_id else ""
    return RpcStatus(grpc.StatusCode.INTERNAL, f"internal error{suffix}")
