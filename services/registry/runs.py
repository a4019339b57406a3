"""The training service as the registry sees it: a finished run's lineage, asked over gRPC."""

from __future__ import annotations

import logging
from typing import Protocol

import grpc
from google.protobuf import json_format

from mlops.api.common.v1 import common_pb2
from mlops.api.training.v1 import training_pb2, training_pb2_grpc
from mlops.kernel.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, Unavailable
from mlops.kernel.grpcx import open_channel
from mlops.kernel.settings import TlsSettings

from .domain import Bundle, Lineage, VersionDraft

log = logging.getLogger(__name__)

BUNDLE_ARTIFACT = "bundle.zip"
EVALUATION_ARTIFACT = "evaluation.json"
MAX_LINEAGE_RUNS = 5000


class RunSource(Protocol):
    async def get_run(self, run_id: str, authorization: str | None) -> training_pb2.Run: ...

    async def runs_of_dataset(self, dataset_id: str, number: int, authorization: str | None) -> list[str]: ...


class GrpcRunSource:
    """Asks with the caller's own token, so a caller registers only runs they may read."""

    def __init__(self, address: str, timeout: float = 10.0, *, tls: TlsSettings | None = None) -> None:
        self.address = address
        self.channel = open_channel(address, default_timeout=timeout, tls=tls)
        self.stub = training_pb2_grpc.TrainingServiceStub(self.channel)

    async def get_run(self, run_id: str, authorization: str | None) -> training_pb2.Run:
        metadata = (("authorization", authorization),) if authorization else ()
        try:
            return await self.stub.GetRun(training_pb2.GetRunRequest(run_id=run_id), metadata=metadata)
        except grpc.aio.AioRpcError as error:
            code = error.code()
            if code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise NotFound(f"no run {run_id!r}", field="run_id") from None
            if code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
                raise PermissionDenied(
                    f"cannot read run {run_id!r}: {error.details()}", field="run_id"
                ) from None
            raise Unavailable(f"training service at {self.address}: {error.details()}") from None

    async def runs_of_dataset(self, dataset_id: str, number: int, authorization: str | None) -> list[str]:
        """Ids of the runs that trained on a dataset version; empty (and logged) when training is unreachable,
        so lineage still shows what the registry itself knows."""
        metadata = (("authorization", authorization),) if authorization else ()
        found: list[str] = []
        token = ""
        try:
            while True:
                page = await self.stub.ListRuns(
                    training_pb2.ListRunsRequest(
                        dataset_id=dataset_id,
                        dataset_version=number,
                        page=common_pb2.PageRequest(page_size=500, page_token=token),
                    ),
                    metadata=metadata,
                )
                found += [run.id for run in page.runs]
                token = page.page.next_page_token
                if not token or len(found) >= MAX_LINEAGE_RUNS:
                    return found
        except grpc.aio.AioRpcError as error:
            log.warning(
                "lineage without the training service's runs",
                extra={"fields": {"code": error.code().name, "details": error.details()}},
            )
            return found

    async def close(self) -> None:
        await self.channel.close()


def draft_from_run(run: training_pb2.Run, registered_by: str) -> VersionDraft:
    """A version's content from a succeeded run; refuses runs that did not succeed or have no bundle."""
    if run.status != training_pb2.RUN_STATUS_SUCCEEDED:
        status = training_pb2.RunStatus.Name(run.status).removeprefix("RUN_STATUS_").lower()
        raise FailedPrecondition(
            f"run {run.id} is {status}; only succeeded runs are registered", field="run_id"
        )
    bundles = [a for a in run.artifacts if a.name == BUNDLE_ARTIFACT]
    if not bundles or not bundles[0].sha256:
        raise FailedPrecondition(f"run {run.id} has no model bundle artifact", field="run_id")
    artifact = bundles[0]
    if not artifact.uri:
        raise InvalidArgument(f"run {run.id}'s bundle has no URI", field="run_id")
    return VersionDraft(
        bundle=Bundle(
            uri=artifact.uri,
            sha256=artifact.sha256,
            size_bytes=artifact.size_bytes,
            media_type=artifact.media_type or "application/zip",
            name=artifact.name,
        ),
        signature={},
        algorithm_id=run.algorithm_id,
        algorithm_version=run.algorithm_version,
        lineage=Lineage(
            run_id=run.id,
            dataset_id=run.dataset.dataset_id,
            dataset_version=run.dataset.number,
            manifest_digest=run.dataset.manifest_digest,
        ),
        code_version=json_format.MessageToDict(run.code_version, preserving_proto_field_name=True),
        parameters=json_format.MessageToDict(run.parameters),
        metrics=dict(run.summary_metrics),
        registered_by=registered_by,
    )


def evaluation_of(run: training_pb2.Run) -> common_pb2.ArtifactRef | None:
    return next((a for a in run.artifacts if a.name == EVALUATION_ARTIFACT and a.uri), None)
