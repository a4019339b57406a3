"""gRPC client channels: plaintext unless TLS is configured, a deadline on every call, the caller's token,
the current trace context, and retries of idempotent calls when the server is UNAVAILABLE."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import grpc

from mlops.kernel.grpcx.tls import client_credentials, client_options
from mlops.kernel.grpcx.tracing import inject_metadata
from mlops.kernel.settings import TlsSettings

DEFAULT_TIMEOUT = 10.0
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def _retry_config(idempotent: Iterable[str]) -> str:
    names = []
    for method in idempotent:
        service, _, name = method.lstrip("/").partition("/")
        names.append({"service": service, "method": name})
    if not names:
        return json.dumps({"methodConfig": []})
    return json.dumps(
        {
            "methodConfig": [
                {
                    "name": names,
                    "retryPolicy": {
                        "maxAttempts": 4,
                        "initialBackoff": "0.1s",
                        "maxBackoff": "2s",
                        "backoffMultiplier": 2,
                        "retryableStatusCodes": ["UNAVAILABLE"],
                    },
                }
            ]
        }
    )


class _CallDefaults:
    """Adds what every call should carry unless the caller said otherwise."""

    def __init__(self, *, token: str | None, default_timeout: float | None) -> None:
        self.authorization = f"Bearer {token}" if token else None
        self.default_timeout = default_timeout

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata: list[tuple[str, Any]] = list(details.metadata or ())
        if self.authorization and not any(key == "authorization" for key, _ in metadata):
            metadata.append(("authorization", self.authorization))
        inject_metadata(metadata)
        timeout = details.timeout if details.timeout is not None else self.default_timeout
        return grpc.aio.ClientCallDetails(
            details.method, timeout, grpc.aio.Metadata(*metadata), details.credentials, details.wait_for_ready
        )


# grpc.aio files each interceptor under the first call kind it implements, so one class per kind.
class _UnaryUnary(_CallDefaults, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _UnaryStream(_CallDefaults, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _StreamUnary(_CallDefaults, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation: Any, details: Any, request_iterator: Any) -> Any:
        return await continuation(self._details(details), request_iterator)


class _StreamStream(_CallDefaults, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation: Any, details: Any, request_iterator: Any) -> Any:
        return await continuation(self._details(details), request_iterator)


def call_defaults(*, token: str | None, default_timeout: float | None) -> list[grpc.aio.ClientInterceptor]:
    """Client interceptors adding the token, the trace context and a deadline to every call kind."""
    return [
        kind(token=token, default_timeout=default_timeout)
        for kind in (_UnaryUnary, _UnaryStream, _StreamUnary, _StreamStream)
    ]


def open_channel(
    address: str,
    *,
    token: str | None = None,
    default_timeout: float | None = DEFAULT_TIMEOUT,
    idempotent: Iterable[str] = (),
    credentials: grpc.ChannelCredentials | None = None,
    options: Sequence[tuple[str, Any]] = (),
    tls: TlsSettings | None = None,
) -> grpc.aio.Channel:
    """A channel to `address`. `idempotent` lists full method paths safe to retry on UNAVAILABLE
    (see policy.idempotent_methods); TLS when `credentials` are given or `tls` (the process's
    settings.tls) configures it."""
    if credentials is None:
        credentials = client_credentials(tls)
    channel_options = [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.enable_retries", 1),
        ("grpc.service_config", _retry_config(idempotent)),
        *client_options(tls),
        *options,
    ]
    interceptors = call_defaults(token=token, default_timeout=default_timeout)
    if credentials is not None:
        return grpc.aio.secure_channel(address, credentials, channel_options, interceptors=interceptors)
    return grpc.aio.insecure_channel(address, channel_options, interceptors=interceptors)
