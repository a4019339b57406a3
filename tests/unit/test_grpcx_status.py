"""The mapping from exceptions to gRPC statuses."""

from __future__ import annotations

import json

import grpc
import pytest

from mlops.kernel import errors
from mlops.kernel.grpcx.client import _retry_config
from mlops.kernel.grpcx.status import status_of


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.InvalidArgument("bad", field="name"), grpc.StatusCode.INVALID_ARGUMENT),
        (errors.NotFound("gone"), grpc.StatusCode.NOT_FOUND),
        (errors.AlreadyExists("taken"), grpc.StatusCode.ALREADY_EXISTS),
        (errors.FailedPrecondition("archived"), grpc.StatusCode.FAILED_PRECONDITION),
        (errors.PermissionDenied("no"), grpc.StatusCode.PERMISSION_DENIED),
        (errors.Unauthenticated("who"), grpc.StatusCode.UNAUTHENTICATED),
        (errors.Conflict("raced"), grpc.StatusCode.ABORTED),
        (errors.ResourceExhausted("full"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (errors.Unavailable("down"), grpc.StatusCode.UNAVAILABLE),
        (NotImplementedError(), grpc.StatusCode.UNIMPLEMENTED),
        (ValueError("internals"), grpc.StatusCode.INTERNAL),
    ],
)
def test_status_codes(error: Exception, code: grpc.StatusCode) -> None:
    assert status_of(error).code is code


def test_field_travels_in_message_and_trailing_metadata() -> None:
    status = status_of(errors.InvalidArgument("must be positive", field="page.page_size"))
    assert status.details == "page.page_size: must be positive"
    assert status.trailing_metadata == (("field", "page.page_size"),)


def test_unexpected_errors_reveal_only_the_trace_id() -> None:
    status = status_of(KeyError("db password"), trace_id="abc123")
    assert status.details == "internal error (trace abc123)"
    assert status.trailing_metadata == ()


def test_unknown_code_name_is_unknown() -> None:
    class Odd(errors.DomainError):
        grpc_code_name = "NO_SUCH_CODE"

    assert status_of(Odd("x")).code is grpc.StatusCode.UNKNOWN


def test_retry_config_names_only_idempotent_methods() -> None:
    config = json.loads(_retry_config(["/mlops.dataset.v1.DatasetService/GetDataset"]))
    [method_config] = config["methodConfig"]
    assert method_config["name"] == [{"service": "mlops.dataset.v1.DatasetService", "method": "GetDataset"}]
    assert method_config["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert json.loads(_retry_config([])) == {"methodConfig": []}
