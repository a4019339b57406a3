"""gRPC adapter of the dataset service: datasets, samples, annotations and versions.

Authorisation and audit happen in the kernel's interceptor (permissions.py maps every method); domain
errors raised here become gRPC statuses there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mlops.api.dataset.v1 import dataset_pb2, dataset_pb2_grpc
from mlops.kernel.errors import InvalidArgument
from mlops.kernel.grpcx import principal
from mlops.kernel.objectstore import ObjectStore
from mlops.kernel.runtime import ServiceRuntime
from mlops.kernel.structs import struct_to_dict

from . import convert
from .domain import SplitRatios
from .framing import download_chunk_header, file_name_field, register_with_preframed_downloads
from .ingest import UploadSpec, UploadSpool
from .service import DatasetService, UploadFile
from .settings import DatasetSettings
from .store import DatasetQuery, SqlDatasetStore

Context = Any


class DatasetServiceApi(dataset_pb2_grpc.DatasetServiceServicer):
    def __init__(self, service: DatasetService) -> None:
        self.service = service

    # --- datasets -------------------------------------------------------------------------------

    async def CreateDataset(self, request: Any, context: Context) -> dataset_pb2.Dataset:
        view = await self.service.create_dataset(
            owner=principal().subject,
            name=request.name,
            scenario=convert.scenario_from_proto(request.scenario),
            description=request.description,
            tags=list(request.tags),
        )
        return convert.dataset_to_proto(view)

    async def GetDataset(self, request: Any, context: Context) -> dataset_pb2.Dataset:
        return convert.dataset_to_proto(await self.service.get_dataset(request.dataset_id))

    async def ListDatasets(self, request: Any, context: Context) -> dataset_pb2.ListDatasetsResponse:
        offset, limit = convert.page_window(request.page)
        scenario = convert.scenario_from_proto(request.scenario) if request.scenario else None
        query = DatasetQuery(
            scenario=scenario, owner=request.owner, tag=request.tag, name_contains=request.name_contains
        )
        page = await self.service.list_datasets(query, offset, limit)
        return dataset_pb2.ListDatasetsResponse(
            datasets=[convert.dataset_to_proto(v) for v in page.items],
            page=convert.page_response(page.total, page.next_offset),
        )

    async def UpdateDataset(self, request: Any, context: Context) -> dataset_pb2.Dataset:
        view = await self.service.update_dataset(
            request.dataset_id,
            name=request.name if request.HasField("name") else None,
            description=request.description if request.HasField("description") else None,
            tags=list(request.tags),
            replace_tags=request.replace_tags,
        )
        return convert.dataset_to_proto(view)

    async def DeleteDataset(self, request: Any, context: Context) -> dataset_pb2.DeleteDatasetResponse:
        await self.service.delete_dataset(request.dataset_id, principal())
        return dataset_pb2.DeleteDatasetResponse()

    # --- samples --------------------------------------------------------------------------------

    async def UploadSamples(
        self, request_iterator: AsyncIterator[Any], context: Context
    ) -> dataset_pb2.UploadSamplesResponse:
        specs: list[UploadSpec] = []
        dataset_id = ""
        replace_existing = False
        # One temporary file for the whole upload, refused as soon as it holds too many files or bytes.
        with UploadSpool(self.service.settings.ingest_limits()) as spool:
            async for part in request_iterator:
                kind = part.WhichOneof("part")
                if kind in ("header", "next_file"):
                    header = getattr(part, kind)
                    if kind == "header" and specs:
                        raise InvalidArgument(
                            "only the first message is a header; then next_file", field="header"
                        )
                    if kind == "next_file" and not specs:
                        raise InvalidArgument("the first message must be the upload's header", field="header")
                    if not specs:
                        dataset_id = header.dataset_id
                        if not dataset_id:
                            raise InvalidArgument("the header names the dataset", field="header.dataset_id")
                        replace_existing = header.replace_existing
                    elif header.replace_existing and not replace_existing:
                        raise InvalidArgument(
                            "replace_existing is set on the first header, for the whole upload",
                            field="next_file.replace_existing",
                        )
                    elif header.dataset_id and header.dataset_id != dataset_id:
                        raise InvalidArgument(
                            "every file of an upload goes to the same dataset", field="dataset_id"
                        )
                    spec = convert.upload_spec(header)
                    spool.start_file(spec.file_name or "upload")
                    specs.append(spec)
                elif kind == "chunk":
                    if not specs:
                        raise InvalidArgument("the first message must be the upload's header", field="header")
                    spool.write(part.chunk)
            if not specs:
                raise InvalidArgument("an upload starts with a header", field="header")
            files = [UploadFile(spec, stream) for spec, stream in zip(specs, spool.files(), strict=True)]
            result = await self.service.ingest(dataset_id, files, replace_existing=replace_existing)
        return dataset_pb2.UploadSamplesResponse(
            samples_added=len(result.sample_ids),
            bytes_received=result.bytes_received,
            new_blobs=result.new_blobs,
            sample_ids=result.sample_ids,
            samples_replaced=result.replaced,
            samples_annotated=result.annotated,
        )

    async def ListSamples(self, request: Any, context: Context) -> dataset_pb2.ListSamplesResponse:
        offset, limit = convert.page_window(request.page)
        page = await self.service.list_samples(
            request.dataset_id, request.version, convert.sample_filter(request.filter), offset, limit
        )
        return dataset_pb2.ListSamplesResponse(
            samples=[convert.sample_to_proto(request.dataset_id, s) for s in page.items],
            page=convert.page_response(page.total, page.next_offset),
        )

    async def GetSample(self, request: Any, context: Context) -> dataset_pb2.Sample:
        sample = await self.service.get_sample(request.dataset_id, request.sample_id)
        return convert.sample_to_proto(request.dataset_id, sample)

    async def UpdateSample(self, request: Any, context: Context) -> dataset_pb2.Sample:
        changes: dict[str, Any] = {}
        if request.HasField("purpose"):
            purpose = convert.purpose_from_proto(request.purpose)
            if purpose is None:
                raise InvalidArgument("a sample's purpose cannot be unspecified", field="purpose")
            changes["purpose"] = purpose
        if request.clear_annotation:
            changes["annotation"] = None
        elif request.HasField("annotation"):
            changes["annotation"] = convert.annotation_from_proto(request.annotation)
        if request.HasField("metadata"):
            changes["metadata"] = struct_to_dict(request.metadata)
        sample = await self.service.update_sample(request.dataset_id, request.sample_id, **changes)
        return convert.sample_to_proto(request.dataset_id, sample)

    async def DeleteSample(self, request: Any, context: Context) -> dataset_pb2.DeleteSampleResponse:
        await self.service.delete_sample(request.dataset_id, request.sample_id)
        return dataset_pb2.DeleteSampleResponse()

    async def DeleteSamples(self, request: Any, context: Context) -> dataset_pb2.DeleteSamplesResponse:
        deleted = await self.service.delete_samples(request.dataset_id, convert.sample_filter(request.filter))
        return dataset_pb2.DeleteSamplesResponse(samples_deleted=deleted)

    async def RelabelSamples(self, request: Any, context: Context) -> dataset_pb2.RelabelSamplesResponse:
        changes: dict[str, Any] = {
            "set_purpose": convert.purpose_from_proto(request.set_purpose, field="set_purpose")
        }
        if request.HasField("set_annotation"):
            changes["set_annotation"] = convert.annotation_from_proto(request.set_annotation)
        changed = await self.service.relabel(
            request.dataset_id, convert.sample_filter(request.filter), **changes
        )
        return dataset_pb2.RelabelSamplesResponse(samples_changed=changed)

    async def SplitSamples(self, request: Any, context: Context) -> dataset_pb2.SplitSamplesResponse:
        ratios = SplitRatios(request.training_ratio, request.validation_ratio, request.testing_ratio)
        plan = await self.service.split(request.dataset_id, ratios, request.seed)
        return dataset_pb2.SplitSamplesResponse(
            counts_per_purpose=plan.counts_per_purpose(), strategy=plan.strategy.value
        )

    # --- versions -------------------------------------------------------------------------------

    async def PublishVersion(self, request: Any, context: Context) -> dataset_pb2.DatasetVersion:
        version = await self.service.publish(
            request.dataset_id, author=principal().subject, message=request.message
        )
        return convert.version_to_proto(version)

    async def ListVersions(self, request: Any, context: Context) -> dataset_pb2.ListVersionsResponse:
        offset, limit = convert.page_window(request.page)
        page = await self.service.list_versions(request.dataset_id, request.include_archived, offset, limit)
        return dataset_pb2.ListVersionsResponse(
            versions=[convert.version_to_proto(v) for v in page.items],
            page=convert.page_response(page.total, page.next_offset),
        )

    async def GetVersion(self, request: Any, context: Context) -> dataset_pb2.DatasetVersion:
        return convert.version_to_proto(await self.service.get_version(request.dataset_id, request.number))

    async def DiffVersions(self, request: Any, context: Context) -> dataset_pb2.DiffVersionsResponse:
        diff = await self.service.diff_versions(request.dataset_id, request.from_number, request.to_number)
        return convert.diff_to_proto(diff)

    async def ArchiveVersion(self, request: Any, context: Context) -> dataset_pb2.DatasetVersion:
        version = await self.service.set_archived(request.dataset_id, request.number, True)
        return convert.version_to_proto(version)

    async def UnarchiveVersion(self, request: Any, context: Context) -> dataset_pb2.DatasetVersion:
        version = await self.service.set_archived(request.dataset_id, request.number, False)
        return convert.version_to_proto(version)

    async def RestoreVersion(self, request: Any, context: Context) -> dataset_pb2.RestoreVersionResponse:
        count = await self.service.restore(request.dataset_id, request.number)
        return dataset_pb2.RestoreVersionResponse(draft_sample_count=count)

    async def DeleteVersion(self, request: Any, context: Context) -> dataset_pb2.DeleteVersionResponse:
        await self.service.delete_version(request.dataset_id, request.number, principal())
        return dataset_pb2.DeleteVersionResponse()

    async def DownloadVersion(self, request: Any, context: Context) -> AsyncIterator[bytes]:
        """DownloadChunk messages already in wire format (see framing.py); the first names the file."""
        archive_format = convert.archive_format_from_proto(request.format)
        chunks = await self.service.download(
            request.dataset_id, request.number, archive_format, frame=download_chunk_header
        )
        file_name = f"{request.dataset_id}-v{request.number}.{archive_format.value}"
        first = True
        try:
            async for message in chunks:
                yield (message + file_name_field(file_name)) if first else message
                first = False
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    async def GetVersionDownloadPlan(self, request: Any, context: Context) -> dataset_pb2.VersionDownloadPlan:
        plan = await self.service.download_plan(
            request.dataset_id,
            request.number,
            request.expires_seconds,
            request.page.page_size,
            request.page.page_token,
        )
        return convert.download_plan_to_proto(plan, self.service.settings)

    # --- retention and demo data ----------------------------------------------------------------

    async def CollectGarbage(self, request: Any, context: Context) -> dataset_pb2.CollectGarbageResponse:
        report = await self.service.collect_garbage(dry_run=request.dry_run)
        return dataset_pb2.CollectGarbageResponse(
            blobs_removed=report.blobs_removed,
            bytes_freed=report.bytes_freed,
            packs_rewritten=report.packs_rewritten,
        )

    async def LoadDemoDataset(self, request: Any, context: Context) -> dataset_pb2.LoadDemoDatasetResponse:
        view, version = await self.service.load_demo(
            owner=principal().subject,
            scenario=convert.scenario_from_proto(request.scenario),
            name=request.name,
            seed=request.seed,
            publish=request.publish,
        )
        response = dataset_pb2.LoadDemoDatasetResponse(dataset=convert.dataset_to_proto(view))
        if version is not None:
            response.version.CopyFrom(convert.version_to_proto(version))
        return response


def build_service(runtime: ServiceRuntime) -> DatasetService:
    settings = runtime.settings
    assert isinstance(settings, DatasetSettings) and runtime.db is not None
    # The process is the dataset service's alone, so its default executor is sized for S3 calls.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=settings.io_threads, thread_name_prefix="dataset-io")
    )
    spool_dir = settings.data_dir / "spool" / "dataset"
    spool_dir.mkdir(parents=True, exist_ok=True)
    return DatasetService(
        SqlDatasetStore(runtime.db), ObjectStore(settings.s3, spool_dir=spool_dir), settings
    )


def register_service(runtime: ServiceRuntime, service: DatasetService) -> Iterable[str]:
    """Adds the servicer over `service` to the runtime's server; returns its full service name."""
    server = runtime.server
    assert server is not None
    servicer = DatasetServiceApi(service)
    register_with_preframed_downloads(dataset_pb2_grpc.add_DatasetServiceServicer_to_server, servicer, server)
    return [dataset_pb2.DESCRIPTOR.services_by_name["DatasetService"].full_name]


def register(runtime: ServiceRuntime) -> Iterable[str]:
    """Adds the servicers to the runtime's server; returns their full service names."""
    return register_service(runtime, build_service(runtime))
