"""Domain errors. Services raise these; one mapping turns them into gRPC statuses, one into HTTP."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a caller can act on. `field` names the offending input where there is one."""

    grpc_code_name = "UNKNOWN"
    http_status = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidArgument(DomainError):
    grpc_code_name = "INVALID_ARGUMENT"
    http_status = 400


class NotFound(DomainError):
    grpc_code_name = "NOT_FOUND"
    http_status = 404


class AlreadyExists(DomainError):
    grpc_code_name = "ALREADY_EXISTS"
    http_status = 409


class FailedPrecondition(DomainError):
    grpc_code_name = "FAILED_PRECONDITION"
    http_status = 412


class Conflict(DomainError):
    """A concurrent change won; retrying may succeed."""

    grpc_code_name = "ABORTED"
    http_status = 409


class Unauthenticated(DomainError):
    grpc_code_name = "UNAUTHENTICATED"
    http_status = 401


class PermissionDenied(DomainError):
    grpc_code_name = "PERMISSION_DENIED"
    http_status = 403


class ResourceExhausted(DomainError):
    grpc_code_name = "RESOURCE_EXHAUSTED"
    http_status = 429


class Unavailable(DomainError):
    grpc_code_name = "UNAVAILABLE"
    http_status = 503
