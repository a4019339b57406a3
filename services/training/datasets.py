"""The dataset service as the training service sees it: is a version published, and its digest."""

from __future__ import annotations

import grpc

from mlops.api.dataset.v1 import dataset_pb2, dataset_pb2_grpc
from mlops.kernel.errors import FailedPrecondition, NotFound, PermissionDenied, Unavailable
from mlops.kernel.grpcx import open_channel
from mlops.kernel.settings import TlsSettings
from services.training.domain import DatasetRef


class GrpcDatasetCatalog:
    """Asks the dataset service with the caller's own token, so a run can use only what its owner may read."""

    def __init__(self, address: str, timeout: float = 10.0, *, tls: TlsSettings | None = None) -> None:
        self.address = address
        self.channel = open_channel(address, default_timeout=timeout, tls=tls)
        self.stub = dataset_pb2_grpc.DatasetServiceStub(self.channel)

    async def published_version(self, dataset_id: str, number: int, authorization: str | None) -> DatasetRef:
        metadata = (("authorization", authorization),) if authorization else ()
        try:
            version = await self.stub.GetVersion(
                dataset_pb2.GetVersionRequest(dataset_id=dataset_id, number=number), metadata=metadata
            )
        except grpc.aio.AioRpcError as error:
            code = error.code()
            if code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise NotFound(
                    f"no published version {number} of dataset {dataset_id!r}", field="dataset"
                ) from None
            if code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
                raise PermissionDenied(
                    f"cannot read dataset {dataset_id!r}: {error.details()}", field="dataset"
                ) from None
            raise Unavailable(f"dataset service at {self.address}: {error.details()}") from None
        if version.state == dataset_pb2.VERSION_STATE_ARCHIVED:
            raise FailedPrecondition(
                f"version {number} of dataset {dataset_id!r} is archived", field="dataset.number"
            )
        if version.state != dataset_pb2.VERSION_STATE_PUBLISHED:
            raise FailedPrecondition(
                f"version {number} of dataset {dataset_id!r} is not published", field="dataset.number"
            )
        return DatasetRef(dataset_id, number, version.manifest_digest)

    async def close(self) -> None:
        await self.channel.close()
