"""The registry as the serving service sees it: which bundle a model version is."""

from __future__ import annotations

from typing import Protocol

import grpc

from mlops.api.registry.v1 import registry_pb2, registry_pb2_grpc
from mlops.kernel.errors import FailedPrecondition, NotFound, PermissionDenied, Unavailable
from mlops.kernel.grpcx import open_channel
from mlops.kernel.settings import TlsSettings
from services.serving.domain import Bundle


class ModelVersions(Protocol):
    async def bundle_of(self, model: str, number: int, authorization: str | None) -> Bundle: ...


class GrpcModelVersions:
    """Asks with the caller's own token: a caller deploys only versions they may read."""

    def __init__(self, address: str, timeout: float = 10.0, *, tls: TlsSettings | None = None) -> None:
        self.address = address
        self.channel = open_channel(address, default_timeout=timeout, tls=tls)
        self.stub = registry_pb2_grpc.RegistryServiceStub(self.channel)

    async def bundle_of(self, model: str, number: int, authorization: str | None) -> Bundle:
        metadata = (("authorization", authorization),) if authorization else ()
        label = f"{model} v{number}"
        try:
            version = await self.stub.GetModelVersion(
                registry_pb2.GetModelVersionRequest(model=model, number=number), metadata=metadata
            )
        except grpc.aio.AioRpcError as error:
            code = error.code()
            if code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise NotFound(f"no model version {label}", field="model_version") from None
            if code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
                raise PermissionDenied(
                    f"cannot read {label}: {error.details()}", field="model_version"
                ) from None
            raise Unavailable(f"registry at {self.address}: {error.details()}") from None
        if not (version.bundle.uri or version.bundle.sha256):
            raise FailedPrecondition(f"{label} has no bundle to serve", field="model_version")
        return Bundle(version.bundle.uri, version.bundle.sha256)

    async def close(self) -> None:
        await self.channel.close()
