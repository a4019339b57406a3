"""gRPC adapter of the serving service: deployments, revisions, traffic and the worker pool."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from google.protobuf import timestamp_pb2

from mlops.api.common.v1 import common_pb2
from mlops.api.serving.v1 import serving_pb2 as pb
from mlops.api.serving.v1 import serving_pb2_grpc
from mlops.kernel.grpcx.context import principal
from services.serving.domain import (
    DEFAULT_REQUEST_LOG_MAX_PAYLOAD_BYTES,
    DEFAULT_REQUEST_LOG_SAMPLE_RATE,
    Batching,
    Deployment,
    DeploymentState,
    ReplicaState,
    Resources,
    Revision,
    Traffic,
    TrafficPolicy,
)
from services.serving.placement import Worker
from services.serving.request_logs import parse_time
from services.serving.service import (
    Assignment,
    DeployCommand,
    ReplicaReport,
    RevisionTraffic,
    ServingService,
    UpdateCommand,
)

Context = Any

_POOLS = {pb.POOL_CPU: "cpu", pb.POOL_GPU: "gpu"}
_POOL_ENUMS = {v: k for k, v in _POOLS.items()}
_REPLICA_STATES = {
    ReplicaState.LOADING: pb.REPLICA_STATE_LOADING,
    ReplicaState.READY: pb.REPLICA_STATE_READY,
    ReplicaState.FAILED: pb.REPLICA_STATE_FAILED,
    ReplicaState.DRAINING: pb.REPLICA_STATE_DRAINING,
}
_REPORTED = {v: k for k, v in _REPLICA_STATES.items()}
_ROLES = {
    "stable": pb.REVISION_ROLE_STABLE,
    "canary": pb.REVISION_ROLE_CANARY,
    "shadow": pb.REVISION_ROLE_SHADOW,
}
_DEPLOYMENT_STATES = {
    DeploymentState.PENDING: pb.DEPLOYMENT_STATE_PENDING,
    DeploymentState.READY: pb.DEPLOYMENT_STATE_READY,
    DeploymentState.DEGRADED: pb.DEPLOYMENT_STATE_DEGRADED,
    DeploymentState.FAILED: pb.DEPLOYMENT_STATE_FAILED,
    DeploymentState.STOPPED: pb.DEPLOYMENT_STATE_STOPPED,
    DeploymentState.IDLE: pb.DEPLOYMENT_STATE_IDLE,
}


def _authorization(context: Context) -> str | None:
    return dict(context.invocation_metadata() or ()).get("authorization")


def _timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _resources(message: pb.Resources) -> Resources:
    return Resources(message.memory_bytes, message.threads, message.gpu_share)


def _revision_message(revision: Revision) -> pb.Revision:
    return pb.Revision(
        number=revision.number,
        model_version=pb.ModelVersionRef(model=revision.model, number=revision.version),
        resources=pb.Resources(
            memory_bytes=revision.resources.memory_bytes,
            threads=revision.resources.threads,
            gpu_share=revision.resources.gpu_share,
        ),
        batching=pb.Batching(
            max_batch_size=revision.batching.max_batch_size,
            max_queue_delay_us=revision.batching.max_queue_delay_us,
        ),
        replicas=revision.replicas,
        created_at=_timestamp(revision.created_at),
        created_by=revision.created_by,
        reason=revision.reason,
    )


def deployment_message(deployment: Deployment, now: datetime) -> pb.Deployment:
    traffic = deployment.traffic
    return pb.Deployment(
        name=deployment.name,
        state=_DEPLOYMENT_STATES[deployment.state(now)],  # type: ignore[arg-type]
        pool=_POOL_ENUMS.get(deployment.pool, pb.POOL_UNSPECIFIED),  # type: ignore[arg-type]
        revisions=[_revision_message(r) for r in deployment.revisions],
        traffic=pb.TrafficPolicy(
            stable_revision=traffic.stable,
            canary_revision=traffic.canary,
            canary_weight=traffic.canary_weight,
            shadow_revision=traffic.shadow,
            max_error_rate=traffic.max_error_rate,
            max_p99_latency_ms=traffic.max_p99_latency_ms,
        ),
        replicas=[
            pb.Replica(
                id=r.id,
                worker_id=r.worker_id,
                state=_REPLICA_STATES[r.state],  # type: ignore[arg-type]
                reason=r.reason,
                provider=r.provider,
                revision=r.revision,
            )
            for r in deployment.replicas
        ],
        public=deployment.public,
        request_logging=deployment.request_logging,
        request_log_sample_rate=deployment.request_log_sample_rate,
        request_log_max_payload_bytes=deployment.request_log_max_payload_bytes,
        idle_after_seconds=deployment.idle_after_seconds,
        ttl_seconds=deployment.ttl_seconds,
        last_request_at=_timestamp(deployment.last_request_at),
        created_at=_timestamp(deployment.created_at),
        owner=deployment.owner,
    )


def _worker_message(worker: Worker, alive: bool) -> pb.Worker:
    return pb.Worker(
        id=worker.id,
        pool=_POOL_ENUMS.get(worker.pool, pb.POOL_UNSPECIFIED),  # type: ignore[arg-type]
        address=worker.address,
        memory_bytes=worker.memory_bytes,
        threads=worker.threads,
        gpu_capacity=worker.gpu_capacity,
        providers=worker.providers,
        last_heartbeat=_timestamp(worker.last_heartbeat),
        alive=alive,
    )


def _assignment_message(assignment: Assignment) -> pb.ReplicaAssignment:
    revision = assignment.revision
    return pb.ReplicaAssignment(
        replica_id=assignment.replica_id,
        deployment=assignment.deployment,
        revision=revision.number,
        bundle=common_pb2.ArtifactRef(uri=revision.bundle.uri, sha256=revision.bundle.sha256),
        resources=pb.Resources(
            memory_bytes=revision.resources.memory_bytes,
            threads=revision.resources.threads,
            gpu_share=revision.resources.gpu_share,
        ),
        batching=pb.Batching(
            max_batch_size=revision.batching.max_batch_size,
            max_queue_delay_us=revision.batching.max_queue_delay_us,
        ),
        public=assignment.public,
        canary_weight=assignment.canary_weight,
        shadow=assignment.shadow,
        model_version=pb.ModelVersionRef(model=revision.model, number=revision.version),
        request_log_sample_rate=assignment.request_log_sample_rate,
        request_log_max_payload_bytes=assignment.request_log_max_payload_bytes,
    )


def _traffic(message: pb.DeploymentMetrics) -> Traffic:
    return Traffic(
        requests=message.requests,
        errors=message.errors,
        latency_p50_ms=message.latency_p50_ms,
        latency_p99_ms=message.latency_p99_ms,
        mean_batch_size=message.mean_batch_size,
        mean_queue_time_ms=message.mean_queue_time_ms,
    )


def _revision_metrics(observed: RevisionTraffic) -> pb.RevisionMetrics:
    traffic = observed.traffic
    return pb.RevisionMetrics(
        revision=observed.revision,
        role=_ROLES[observed.role],
        requests=traffic.requests,
        errors=traffic.errors,
        latency_p50_ms=traffic.latency_p50_ms,
        latency_p99_ms=traffic.latency_p99_ms,
        mean_batch_size=traffic.mean_batch_size,
        mean_queue_time_ms=traffic.mean_queue_time_ms,
    )


def _request_log_record(record: dict[str, Any]) -> pb.RequestLogRecord:
    """A stored record (services.serving.request_logs) as the API gives it."""
    truncated = bool(record.get("truncated"))
    return pb.RequestLogRecord(
        time=_timestamp(parse_time(record["time"])),
        deployment=record["deployment"],
        revision=record["revision"],
        model_version=pb.ModelVersionRef(model=record["model"], number=record["model_version"]),
        request_id=record["request_id"],
        protocol=record["protocol"],
        endpoint=record["endpoint"],
        latency_ms=record["latency_ms"],
        worker_id=record["worker_id"],
        inputs_json="" if truncated else json.dumps(record["inputs"], separators=(",", ":")),
        outputs_json="" if truncated else json.dumps(record["outputs"], separators=(",", ":")),
        truncated=truncated,
    )


class ServingServiceApi(serving_pb2_grpc.ServingServiceServicer):
    def __init__(self, service: ServingService) -> None:
        self.service = service

    def _message(self, deployment: Deployment) -> pb.Deployment:
        return deployment_message(deployment, self.service.clock())

    async def Deploy(self, request: pb.DeployRequest, context: Context) -> pb.Deployment:
        command = DeployCommand(
            name=request.name,
            model=request.model_version.model,
            version=request.model_version.number,
            pool=_POOLS.get(request.pool, "cpu"),
            replicas=request.replicas or 1,
            resources=_resources(request.resources) if request.HasField("resources") else None,
            batching=Batching(request.batching.max_batch_size, request.batching.max_queue_delay_us),
            public=request.public,
            request_logging=request.request_logging,
            # 0: the defaults.
            request_log_sample_rate=request.request_log_sample_rate or DEFAULT_REQUEST_LOG_SAMPLE_RATE,
            request_log_max_payload_bytes=(
                request.request_log_max_payload_bytes or DEFAULT_REQUEST_LOG_MAX_PAYLOAD_BYTES
            ),
            idle_after_seconds=request.idle_after_seconds,
            ttl_seconds=request.ttl_seconds,
        )
        deployed = await self.service.deploy(principal().subject, command, _authorization(context))
        return self._message(deployed)

    async def GetDeployment(self, request: pb.GetDeploymentRequest, context: Context) -> pb.Deployment:
        return self._message(await self.service.get(request.name))

    async def ListDeployments(
        self, request: pb.ListDeploymentsRequest, context: Context
    ) -> pb.ListDeploymentsResponse:
        messages = [self._message(d) for d in await self.service.deployments()]
        if request.state:
            messages = [m for m in messages if m.state == request.state]
        return pb.ListDeploymentsResponse(deployments=messages)

    async def Scale(self, request: pb.ScaleRequest, context: Context) -> pb.Deployment:
        return self._message(await self.service.scale(principal().subject, request.name, request.replicas))

    async def Update(self, request: pb.UpdateRequest, context: Context) -> pb.Deployment:
        command = UpdateCommand(
            name=request.name,
            model=request.model_version.model,
            version=request.model_version.number,
            resources=_resources(request.resources) if request.HasField("resources") else None,
            batching=(
                Batching(request.batching.max_batch_size, request.batching.max_queue_delay_us)
                if request.HasField("batching")
                else None
            ),
            canary_weight=request.canary_weight,
            shadow=request.shadow,
            request_logging=request.request_logging if request.HasField("request_logging") else None,
            request_log_sample_rate=(
                request.request_log_sample_rate if request.HasField("request_log_sample_rate") else None
            ),
            request_log_max_payload_bytes=(
                request.request_log_max_payload_bytes
                if request.HasField("request_log_max_payload_bytes")
                else None
            ),
        )
        updated = await self.service.update(principal().subject, command, _authorization(context))
        return self._message(updated)

    async def SetTraffic(self, request: pb.SetTrafficRequest, context: Context) -> pb.Deployment:
        t = request.traffic
        policy = TrafficPolicy(
            stable=t.stable_revision,
            canary=t.canary_revision,
            canary_weight=t.canary_weight,
            shadow=t.shadow_revision,
            max_error_rate=t.max_error_rate,
            max_p99_latency_ms=t.max_p99_latency_ms,
        )
        return self._message(await self.service.set_traffic(request.name, policy))

    async def Promote(self, request: pb.PromoteRequest, context: Context) -> pb.Deployment:
        return self._message(await self.service.promote(request.name))

    async def Rollback(self, request: pb.RollbackRequest, context: Context) -> pb.Deployment:
        reason = request.reason or f"rollback by {principal().subject}"
        return self._message(await self.service.rollback(request.name, request.to_revision, reason))

    async def ListRevisions(
        self, request: pb.GetDeploymentRequest, context: Context
    ) -> pb.ListRevisionsResponse:
        deployment = await self.service.get(request.name)
        return pb.ListRevisionsResponse(revisions=[_revision_message(r) for r in deployment.revisions])

    async def Stop(self, request: pb.GetDeploymentRequest, context: Context) -> pb.Deployment:
        return self._message(await self.service.stop(request.name, f"stopped by {principal().subject}"))

    async def Remove(self, request: pb.GetDeploymentRequest, context: Context) -> pb.RemoveResponse:
        await self.service.remove(request.name)
        return pb.RemoveResponse()

    async def GetDeploymentMetrics(
        self, request: pb.GetDeploymentRequest, context: Context
    ) -> pb.DeploymentMetrics:
        observed = await self.service.metrics(request.name)
        total = observed.total
        return pb.DeploymentMetrics(
            name=request.name,
            requests=total.requests,
            errors=total.errors,
            latency_p50_ms=total.latency_p50_ms,
            latency_p99_ms=total.latency_p99_ms,
            mean_batch_size=total.mean_batch_size,
            mean_queue_time_ms=total.mean_queue_time_ms,
            revisions=[_revision_metrics(r) for r in observed.revisions],
        )

    async def ListWorkers(self, request: pb.ListWorkersRequest, context: Context) -> pb.ListWorkersResponse:
        found = await self.service.list_workers(_POOLS.get(request.pool, ""))
        return pb.ListWorkersResponse(workers=[_worker_message(w, alive) for w, alive in found])

    async def ListRequestLogRecords(
        self, request: pb.ListRequestLogRecordsRequest, context: Context
    ) -> pb.ListRequestLogRecordsResponse:
        page = await self.service.request_log(
            request.name,
            request.start_time.ToDatetime(UTC) if request.HasField("start_time") else None,
            request.end_time.ToDatetime(UTC) if request.HasField("end_time") else None,
            page_size=request.page.page_size,
            page_token=request.page.page_token,
        )
        return pb.ListRequestLogRecordsResponse(
            records=[_request_log_record(r) for r in page.records],
            page=common_pb2.PageResponse(next_page_token=page.next_page_token),
        )


class WorkerRegistryApi(serving_pb2_grpc.WorkerRegistryServicer):
    def __init__(self, service: ServingService, heartbeat_seconds: int) -> None:
        self.service = service
        self.heartbeat_seconds = heartbeat_seconds

    async def RegisterWorker(
        self, request: pb.RegisterWorkerRequest, context: Context
    ) -> pb.RegisterWorkerResponse:
        w = request.worker
        worker = Worker(
            id=w.id,
            pool=_POOLS.get(w.pool, "cpu"),
            address=w.address,
            memory_bytes=w.memory_bytes,
            threads=w.threads,
            gpu_capacity=w.gpu_capacity,
            providers=list(w.providers),
        )
        await self.service.register_worker(worker)
        return pb.RegisterWorkerResponse(heartbeat_interval_seconds=self.heartbeat_seconds)

    async def Heartbeat(self, request: pb.HeartbeatRequest, context: Context) -> pb.HeartbeatResponse:
        reports = [
            ReplicaReport(r.replica_id, _REPORTED.get(r.state, ReplicaState.LOADING), r.reason, r.provider)  # type: ignore[call-overload]
            for r in request.replicas
        ]
        traffic = {m.name: _traffic(m) for m in request.models}
        assignments = await self.service.heartbeat(request.worker_id, reports, traffic)
        return pb.HeartbeatResponse(assignments=[_assignment_message(a) for a in assignments])


def register_api(service: ServingService, server: Any, heartbeat_seconds: int) -> Iterable[str]:
    """Adds the servicers to the runtime's server; returns their full service names."""
    serving_pb2_grpc.add_ServingServiceServicer_to_server(ServingServiceApi(service), server)
    serving_pb2_grpc.add_WorkerRegistryServicer_to_server(
        WorkerRegistryApi(service, heartbeat_seconds), server
    )
    return [
        pb.DESCRIPTOR.services_by_name["ServingService"].full_name,
        pb.DESCRIPTOR.services_by_name["WorkerRegistry"].full_name,
    ]
