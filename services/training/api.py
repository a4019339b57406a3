"""gRPC adapter of the training service: training runs, their parameters, metrics, logs and artifacts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

from mlops.api.training.v1 import training_pb2 as pb
from mlops.api.training.v1 import training_pb2_grpc
from mlops.kernel.auth import Role
from mlops.kernel.errors import InvalidArgument, NotFound, PermissionDenied
from mlops.kernel.grpcx import principal
from mlops.kernel.objectstore import ObjectStore
from mlops.kernel.runtime import ServiceRuntime
from mlops.kernel.structs import struct_to_dict
from services.training import convert
from services.training.domain import RunStatus
from services.training.service import StartRequest, TrainingService
from services.training.store import MetricRecord, RunFilter

Context = Any
TAIL_POLL_SECONDS = 0.5
LOG_PAGE = 1000
COMPARE_POINTS = 500


def _authorization(context: Context) -> str | None:
    return dict(context.invocation_metadata() or ()).get("authorization")


def _worker_only() -> None:
    caller = principal()
    if caller.role is not Role.SERVICE:
        raise PermissionDenied("only training workers (the service role) report on runs")


class TrainingServiceApi(training_pb2_grpc.TrainingServiceServicer):
    def __init__(self, service: TrainingService, objects: ObjectStore | None) -> None:
        self.service = service
        self.objects = objects

    # --- algorithms ---------------------------------------------------------------------------------

    async def ListAlgorithms(self, request: Any, context: Context) -> pb.ListAlgorithmsResponse:
        found = [
            convert.algorithm_to_proto(a)
            for a in self.service.algorithms
            if not request.scenario or convert.scenario_to_proto(str(a.scenario)) == request.scenario
        ]
        return pb.ListAlgorithmsResponse(algorithms=found)

    async def GetAlgorithm(self, request: Any, context: Context) -> pb.Algorithm:
        algorithm = self.service.algorithms.get(request.id)
        if request.version and request.version != algorithm.version:
            raise NotFound(f"installed is {algorithm.id} {algorithm.version}", field="version")
        return convert.algorithm_to_proto(algorithm)

    # --- runs ---------------------------------------------------------------------------------------

    async def StartRun(self, request: Any, context: Context) -> pb.Run:
        start = StartRequest(
            name=request.name,
            dataset_id=request.dataset.dataset_id,
            dataset_version=request.dataset.number,
            algorithm_id=request.algorithm_id,
            algorithm_version=request.algorithm_version,
            parameters=struct_to_dict(request.parameters),
            preset=request.preset,
            seed=request.seed,
            pool=request.pool,
            idempotency_key=request.idempotency_key,
            allow_duplicate=request.allow_duplicate,
        )
        run = await self.service.start_run(principal(), start, _authorization(context))
        return convert.run_to_proto(run)

    async def GetRun(self, request: Any, context: Context) -> pb.Run:
        return convert.run_to_proto(await self.service.get_run(request.run_id))

    async def ListRuns(self, request: Any, context: Context) -> pb.ListRunsResponse:
        offset, size = convert.page_window(request.page)
        status = convert.status_from_proto(request.status)
        where = RunFilter(
            status=status.value if status else "",
            owner=request.owner,
            dataset_id=request.dataset_id,
            dataset_version=request.dataset_version,
            algorithm_id=request.algorithm_id,
        )
        runs, total = await self.service.list_runs(where, offset, size)
        return pb.ListRunsResponse(
            runs=[convert.run_to_proto(r) for r in runs],
            page=convert.page_response(offset, size, len(runs), total),
        )

    async def StopRun(self, request: Any, context: Context) -> pb.Run:
        run = await self.service.stop_run(principal(), request.run_id, request.confirm_name, request.reason)
        return convert.run_to_proto(run)

    async def RetryRun(self, request: Any, context: Context) -> pb.Run:
        run = await self.service.retry_run(
            principal(), request.run_id, request.idempotency_key, _authorization(context)
        )
        return convert.run_to_proto(run)

    async def ReproduceRun(self, request: Any, context: Context) -> pb.Run:
        run = await self.service.reproduce_run(
            principal(), request.run_id, request.idempotency_key, _authorization(context)
        )
        return convert.run_to_proto(run)

    # --- observability ------------------------------------------------------------------------------

    async def GetMetricHistory(self, request: Any, context: Context) -> pb.GetMetricHistoryResponse:
        if request.max_points < 0:
            raise InvalidArgument("max_points must not be negative", field="max_points")
        history = await self.service.metric_history(request.run_id, list(request.keys), request.max_points)
        return pb.GetMetricHistoryResponse(series=[convert.series_to_proto(*s) for s in history])

    async def GetLogs(self, request: Any, context: Context) -> pb.GetLogsResponse:
        limit = min(request.limit or LOG_PAGE, 10 * LOG_PAGE)
        lines = await self.service.logs(request.run_id, request.after_seq, limit)
        return pb.GetLogsResponse(lines=[convert.log_to_proto(line) for line in lines])

    async def TailLogs(self, request: Any, context: Context) -> AsyncIterator[pb.LogLine]:
        """Lines as they arrive, until the run has finished and every line was sent."""
        after = request.after_seq
        while True:
            run = await self.service.get_run(request.run_id)
            lines = await self.service.logs(request.run_id, after, LOG_PAGE)
            for line in lines:
                yield convert.log_to_proto(line)
                after = line.seq
            if not lines and run.status.is_final:
                return
            if len(lines) < LOG_PAGE:
                await asyncio.sleep(TAIL_POLL_SECONDS)

    async def ListArtifacts(self, request: Any, context: Context) -> pb.ListArtifactsResponse:
        run = await self.service.get_run(request.run_id)
        return pb.ListArtifactsResponse(artifacts=[convert.artifact_to_proto(a) for a in run.artifacts])

    async def DownloadArtifact(self, request: Any, context: Context) -> AsyncIterator[pb.ArtifactChunk]:
        run = await self.service.get_run(request.run_id)
        artifact = next((a for a in run.artifacts if a.name == request.name), None)
        if artifact is None:
            raise NotFound(f"run {run.name} has no artifact {request.name!r}", field="name")
        if self.objects is None:
            raise NotFound("this service has no object store", field="name")
        stream = await self.objects.open_object(artifact_key(run.id, artifact.name), verify=True)
        async with stream:
            async for chunk in stream:
                yield pb.ArtifactChunk(data=chunk)

    async def CompareRuns(self, request: Any, context: Context) -> pb.CompareRunsResponse:
        if len(request.run_ids) < 2:
            raise InvalidArgument("compare at least two runs", field="run_ids")
        runs = [await self.service.get_run(run_id) for run_id in request.run_ids]
        names = sorted({name for run in runs for name in run.parameters})
        parameters = []
        for name in names:
            values = [json.dumps(run.parameters.get(name), sort_keys=True) for run in runs]
            parameters.append(pb.ParameterComparison(name=name, values=values, differs=len(set(values)) > 1))
        metrics = []
        for run in runs:
            for key, points, total in await self.service.metric_history(run.id, [], COMPARE_POINTS):
                metrics.append(convert.series_to_proto(f"{run.id}/{key}", points, total))
        return pb.CompareRunsResponse(
            runs=[convert.run_to_proto(r) for r in runs], parameters=parameters, metrics=metrics
        )

    # --- internal: workers --------------------------------------------------------------------------

    async def ClaimRun(self, request: Any, context: Context) -> pb.ClaimRunResponse:
        _worker_only()
        outcome = await self.service.claim_run(request.run_id, request.worker, request.lease_seconds)
        reply = pb.ClaimRunResponse(
            granted=outcome.granted, reason=outcome.reason, retry_after_seconds=outcome.retry_after_seconds
        )
        if outcome.run is not None:
            reply.run.CopyFrom(convert.run_to_proto(outcome.run))
        return reply

    async def ReportProgress(self, request: Any, context: Context) -> pb.ReportProgressResponse:
        _worker_only()
        now = self.service.clock()
        metrics = [
            MetricRecord(m.key, m.step, m.value, convert.from_timestamp(m.at, now)) for m in request.metrics
        ]
        logs = [
            (convert.from_timestamp(line.at, now), line.stream or "stdout", line.text)
            for line in request.logs
        ]
        outcome = await self.service.report_progress(request.run_id, request.worker, metrics, logs)
        return pb.ReportProgressResponse(stop_requested=outcome.stop_requested, lease_lost=outcome.lease_lost)

    async def CompleteRun(self, request: Any, context: Context) -> pb.Run:
        _worker_only()
        status = convert.status_from_proto(request.status)
        if status is None or not status.is_final:
            raise InvalidArgument("a final status is required", field="status")
        run = await self.service.complete_run(
            request.run_id,
            request.worker,
            RunStatus(status),
            dict(request.summary_metrics),
            [convert.artifact_from_proto(a) for a in request.artifacts],
            request.failure_reason,
        )
        return convert.run_to_proto(run)


def artifact_key(run_id: str, name: str) -> str:
    """Where a run's artifact lives in the object store; shared by the worker that uploads it."""
    from mlops.kernel.objectstore import safe_key

    return safe_key("runs", run_id, name)


def register_api(
    runtime: ServiceRuntime, service: TrainingService, objects: ObjectStore | None
) -> Iterable[str]:
    server = runtime.server
    assert server is not None
    training_pb2_grpc.add_TrainingServiceServicer_to_server(TrainingServiceApi(service, objects), server)
    return [pb.DESCRIPTOR.services_by_name["TrainingService"].full_name]
