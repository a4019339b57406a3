"""The worker's side of the control plane: register, heartbeat with replica reports, host what the
answer assigns (`OnnxModelHost.reconcile`). Loading happens between heartbeats, so a slow load delays
the next report but never the data plane."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Iterable
from dataclasses import replace

import grpc
import psutil

from mlops.algorithms.runtime import cuda_driver_present
from mlops.api.serving.v1 import serving_pb2 as pb
from mlops.api.serving.v1 import serving_pb2_grpc as pb_grpc
from mlops.kernel.grpcx.client import open_channel
from mlops.kernel.settings import TlsSettings
from services.serving.inference.metrics import InferenceMetrics, ModelSummary
from services.serving.naming import SHADOW_SUFFIX
from services.serving.worker.bundles import BLOB_PREFIX
from services.serving.worker.model_host import ModelStatus, OnnxModelHost, Route
from services.serving.worker.replica import Batching, ModelSpec
from services.serving.worker.request_log import LogPolicy, RequestLogger
from services.serving.worker.settings import ServingWorkerSettings

logger = logging.getLogger(__name__)

_STATES = {
    "loading": pb.REPLICA_STATE_LOADING,
    "ready": pb.REPLICA_STATE_READY,
    "failed": pb.REPLICA_STATE_FAILED,
}


_NEEDS_CUDA = frozenset({"CUDAExecutionProvider", "TensorrtExecutionProvider"})


def worker_description(settings: ServingWorkerSettings) -> pb.Worker:
    """What the control plane places replicas by: pool, capacity and the providers this worker has."""
    import onnxruntime

    providers = [
        p
        for p in onnxruntime.get_available_providers()
        # onnxruntime-gpu lists CUDA (and TensorRT, built on it) even where no driver is.
        if p not in _NEEDS_CUDA or cuda_driver_present()
    ]
    gpu = settings.worker_pool == "gpu"
    return pb.Worker(
        id=settings.worker_id or socket.gethostname(),
        pool=pb.POOL_GPU if gpu else pb.POOL_CPU,
        address=settings.inference_reachable_at
        or f"{settings.inference_host}:{settings.inference_grpc_port}",
        memory_bytes=psutil.virtual_memory().total,
        threads=os.cpu_count() or 1,
        gpu_capacity=1.0 if gpu else 0.0,
        providers=providers,
    )


def spec_from_assignment(assignment: pb.ReplicaAssignment, *, device: str) -> ModelSpec:
    """A replica assignment in the host's terms. The model's name is the deployment's (a canary's or
    shadow's: `<deployment>@r<revision>`), its version the revision number; a public deployment answers
    without a token."""
    bundle = assignment.bundle
    return ModelSpec(
        name=hosted_name(assignment),
        # The uri where the registry recorded one (a run's bundle is an object, not a blob); else the blob.
        bundle=bundle.uri or f"{BLOB_PREFIX}{bundle.sha256}",
        version=str(assignment.revision),
        replica_id=assignment.replica_id,
        public=assignment.public,
        device=device,
        threads=assignment.resources.threads or None,
        batching=Batching(
            assignment.batching.max_batch_size, assignment.batching.max_queue_delay_us / 1_000_000
        ),
    )


def hosted_name(assignment: pb.ReplicaAssignment) -> str:
    if assignment.canary_weight or assignment.shadow:
        return f"{assignment.deployment}@r{assignment.revision}"
    return assignment.deployment


def routes_of(assignments: Iterable[pb.ReplicaAssignment]) -> dict[str, Route]:
    """Each deployment's split: the canary's name and weight, the shadow's name."""
    routes: dict[str, Route] = {}
    for a in assignments:
        route = routes.get(a.deployment, Route())
        if a.canary_weight:
            routes[a.deployment] = replace(route, canary=hosted_name(a), weight=a.canary_weight)
        elif a.shadow:
            routes[a.deployment] = replace(route, shadow=hosted_name(a))
    return routes


def request_log_policies(assignments: Iterable[pb.ReplicaAssignment]) -> dict[str, LogPolicy]:
    """The assignments with request logging on, by the name each is hosted under."""
    return {
        hosted_name(a): LogPolicy(
            a.deployment,
            a.revision,
            a.model_version.model,
            a.model_version.number,
            a.request_log_sample_rate,
            a.request_log_max_payload_bytes,
        )
        for a in assignments
        if a.request_log_sample_rate > 0
    }


def report_of(status: ModelStatus) -> pb.ReplicaReport:
    return pb.ReplicaReport(
        replica_id=status.replica_id,
        state=_STATES.get(status.state, pb.REPLICA_STATE_UNSPECIFIED),
        reason=status.reason,
        provider=status.provider,
    )


class ControlPlaneLink:
    def __init__(
        self,
        host: OnnxModelHost,
        control_address: str,
        worker: pb.Worker,
        *,
        device: str = "auto",
        token: str | None = None,
        tls: TlsSettings | None = None,
        retry_seconds: float = 2.0,
        metrics: InferenceMetrics | None = None,
        request_log: RequestLogger | None = None,
    ) -> None:
        self.host = host
        self.request_log = request_log
        self.control_address = control_address
        self.worker = worker
        self.device = device
        self.token = token
        self.tls = tls
        self.retry_seconds = retry_seconds
        self.metrics = metrics

    async def run(self, stop: asyncio.Event) -> None:
        channel = open_channel(self.control_address, token=self.token, tls=self.tls)
        registry = pb_grpc.WorkerRegistryStub(channel)
        interval = 0.0
        try:
            while not stop.is_set():
                try:
                    if not interval:
                        reply = await registry.RegisterWorker(pb.RegisterWorkerRequest(worker=self.worker))
                        interval = max(reply.heartbeat_interval_seconds, 1)
                        logger.info("registered with the control plane at %s", self.control_address)
                    await self.heartbeat(registry)
                    wait = interval
                except grpc.aio.AioRpcError as error:
                    logger.warning("control plane %s: %s", self.control_address, error.code().name)
                    if error.code() == grpc.StatusCode.NOT_FOUND:
                        interval = 0.0  # the control plane forgot us: register again
                    wait = self.retry_seconds
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
        finally:
            await channel.close()

    async def heartbeat(self, registry: pb_grpc.WorkerRegistryStub) -> None:
        reply = await registry.Heartbeat(
            pb.HeartbeatRequest(
                worker_id=self.worker.id,
                replicas=[report_of(s) for s in self.host.statuses()],
                memory_used_bytes=psutil.Process(os.getpid()).memory_info().rss,
                models=self.traffic(),
            )
        )
        # Routes first: a canary not loaded yet, or just unassigned, leaves its share to the stable.
        self.host.set_routes(routes_of(reply.assignments))
        # Logging settings change in place: no reload, the next sampled request follows them.
        if self.request_log is not None:
            self.request_log.set_policies(request_log_policies(reply.assignments))
        await self.host.reconcile(spec_from_assignment(a, device=self.device) for a in reply.assignments)

    def traffic(self) -> list[pb.DeploymentMetrics]:
        """Totals per hosted model since this worker started: the control plane's idle flag, automatic
        rollback and GetDeploymentMetrics read them."""
        if self.metrics is None:
            return []
        reports = []
        for name in self.host.names():
            answered = self.metrics.summary(name)
            reports.append(_report(name, answered))
            # A shadow's copies go apart, so that once made canary it is judged only by what it answered.
            copies = self.metrics.summary(name, shadow=True)
            if copies.requests:
                reports.append(_report(f"{name}{SHADOW_SUFFIX}", copies))
        return reports


def _report(name: str, summary: ModelSummary) -> pb.DeploymentMetrics:
    return pb.DeploymentMetrics(
        name=name,
        requests=summary.requests,
        errors=summary.errors,
        latency_p50_ms=summary.latency_p50_ms,
        latency_p99_ms=summary.latency_p99_ms,
        mean_batch_size=summary.mean_batch_size,
        mean_queue_time_ms=summary.mean_queue_time_ms,
    )
