"""The serving control plane end to end: a real runtime (SQLite, NATS, the auth interceptor), a stand-in
registry over real gRPC, and a real serving worker process that registers, heartbeats and hosts what
it is assigned. Deploy, update under load with zero failed requests, rollback, metrics, stop frees the
model, refusal when nothing fits, and a worker that disappears."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import httpx
import pytest

from mlops.api.serving.v1 import serving_pb2 as pb
from mlops.api.serving.v1 import serving_pb2_grpc
from mlops.kernel.events.testing import eventually, stream_count
from mlops.stack.ports import free_port
from mlops.stack.servers import NatsServer
from tests.serving.conftest import ANOMALY, _train
from tests.serving_control.harness import ENGINEER, SERVICE, ControlPlane, start_control

ROOT = Path(__file__).resolve().parents[2]
WINDOWS = {"inputs": [{"name": "windows", "datatype": "FP32", "shape": [1, 16, 4], "data": [0.25] * 64}]}


@pytest.fixture(scope="module")
def anomaly_bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Two versions of the catalog's anomaly model (quick preset, two seeds)."""
    root = tmp_path_factory.mktemp("bundles")
    return {1: _train(ANOMALY, 0, root / "v1"), 2: _train(ANOMALY, 1, root / "v2")}


@pytest.fixture
async def control(
    tmp_path: Path, nats_server: NatsServer, anomaly_bundles: dict[int, Path]
) -> AsyncIterator[ControlPlane]:
    # Version 3 names a bundle that is not there: its replica fails, the previous revision answers.
    registered = {**anomaly_bundles, 3: tmp_path / "missing-bundle"}
    async for plane in start_control(tmp_path, nats_server, registered):
        yield plane


async def start_worker(
    plane: ControlPlane, worker_id: str, extra_env: dict[str, str] | None = None
) -> tuple[asyncio.subprocess.Process, str]:
    rest, metrics = free_port(), free_port()
    env = {
        **os.environ,
        "MLOPS_SERVING_CONTROL_ADDRESS": f"127.0.0.1:{plane.runtime.port}",
        "MLOPS_SERVICE_TOKEN": SERVICE,
        "MLOPS_IDENTITY_ADDRESS": plane.identity_address,
        "MLOPS_WORKER_ID": worker_id,
        "MLOPS_INFERENCE_REST_PORT": str(rest),
        "MLOPS_INFERENCE_GRPC_PORT": str(free_port()),
        "MLOPS_INFERENCE_METRICS_PORT": str(metrics),
        "MLOPS_INFERENCE_DEVICE": "cpu",
        "MLOPS_LOG_JSON": "false",
        **(extra_env or {}),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.serving.worker", env=env, cwd=ROOT, stderr=asyncio.subprocess.DEVNULL
    )

    async def stop() -> None:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 20)
        if process.returncode is None:
            process.kill()
            await process.wait()

    plane.cleanups.append(stop)
    plane.worker_metrics = f"http://127.0.0.1:{metrics}/metrics"
    return process, f"http://127.0.0.1:{rest}"


async def until(check: Callable[[], Awaitable[bool]], within: float = 30.0) -> None:
    await eventually(check, within=within, every=0.2)


async def ready_on(stub: serving_pb2_grpc.ServingServiceStub, name: str, revision: int) -> bool:
    deployment = await stub.GetDeployment(pb.GetDeploymentRequest(name=name))
    return deployment.state == pb.DEPLOYMENT_STATE_READY and all(
        r.revision == revision and r.state == pb.REPLICA_STATE_READY for r in deployment.replicas
    )


async def answered_version(client: httpx.AsyncClient) -> str:
    reply = await client.post("/v2/models/fraud/infer", json=WINDOWS)
    assert reply.status_code == 200, reply.text
    return str(reply.json()["model_version"])


async def test_deploy_update_rollback_stop_on_a_real_worker(control: ControlPlane) -> None:
    stub = control.stub
    worker, base = await start_worker(control, "w-1")
    await until(lambda: _has_live_worker(stub), within=60)

    deployed = await stub.Deploy(
        pb.DeployRequest(
            name="fraud",
            model_version=pb.ModelVersionRef(model="fraud-model", number=1),
            replicas=1,
            resources=pb.Resources(memory_bytes=64 << 20, threads=1),
            batching=pb.Batching(max_batch_size=8, max_queue_delay_us=500),
            public=True,
        )
    )
    assert deployed.state == pb.DEPLOYMENT_STATE_PENDING and deployed.traffic.stable_revision == 1
    assert control.registry.authorizations == [f"Bearer {ENGINEER}"]
    await until(lambda: ready_on(stub, "fraud", 1))
    (replica,) = (await stub.GetDeployment(pb.GetDeploymentRequest(name="fraud"))).replicas
    assert (replica.worker_id, replica.provider) == ("w-1", "CPUExecutionProvider")

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.Scale(pb.ScaleRequest(name="fraud", replicas=2))
    assert (
        refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "do not fit" in refused.value.details()
    )

    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        assert await answered_version(client) == "1"
        # A steady stream of requests across the update: none may fail.
        outcomes: list[int] = []
        versions: set[str] = set()
        done = asyncio.Event()

        async def load() -> None:
            while not done.is_set():
                reply = await client.post("/v2/models/fraud/infer", json=WINDOWS)
                outcomes.append(reply.status_code)
                if reply.status_code == 200:
                    versions.add(str(reply.json()["model_version"]))
                await asyncio.sleep(0.01)

        loader = asyncio.create_task(load())
        updated = await stub.Update(
            pb.UpdateRequest(name="fraud", model_version=pb.ModelVersionRef(model="fraud-model", number=2))
        )
        assert updated.traffic.stable_revision == 2 and updated.revisions[-1].model_version.number == 2
        await until(lambda: ready_on(stub, "fraud", 2))
        await until(lambda: _answers(client, "2"))
        done.set()
        await loader
        assert outcomes and set(outcomes) == {200} and versions == {"1", "2"}

        rolled = await stub.Rollback(pb.RollbackRequest(name="fraud", reason="v2 scores drift"))
        assert rolled.traffic.stable_revision == 1
        await until(lambda: ready_on(stub, "fraud", 1))
        await until(lambda: _answers(client, "1"))
        revisions = await stub.ListRevisions(pb.GetDeploymentRequest(name="fraud"))
        assert [(r.number, r.model_version.number) for r in revisions.revisions] == [(1, 1), (2, 2)]

        async def counted() -> bool:
            metrics = await stub.GetDeploymentMetrics(pb.GetDeploymentRequest(name="fraud"))
            return metrics.requests >= len(outcomes)

        await until(counted)
        await _canary_shadow_and_automatic_rollback(control, client)
        await _a_failed_load_keeps_the_previous_revision(control, client)
        stopped = await stub.Stop(pb.GetDeploymentRequest(name="fraud"))
        assert stopped.state == pb.DEPLOYMENT_STATE_STOPPED

        async def unloaded() -> bool:
            return (await client.get("/v2/models/fraud/ready")).status_code != 200

        await until(unloaded)

    for kind in ("ServiceDeployed", "ServiceUpdated", "ServiceRolledBack", "ServiceStopped"):

        async def published(kind: str = kind) -> bool:
            return await stream_count(control.bus, f"mlops.events.serving.{kind}") > 0

        await eventually(published, within=10)

    # The worker disappears: its replicas fail with the reason, and deploying elsewhere is refused.
    await stub.Remove(pb.GetDeploymentRequest(name="fraud"))
    await stub.Deploy(
        pb.DeployRequest(name="other", model_version=pb.ModelVersionRef(model="fraud-model", number=1))
    )
    worker.kill()
    await worker.wait()

    async def failed() -> bool:
        other = await stub.GetDeployment(pb.GetDeploymentRequest(name="other"))
        return other.state == pb.DEPLOYMENT_STATE_FAILED and "no live worker" in other.replicas[0].reason

    await until(failed)
    with pytest.raises(grpc.aio.AioRpcError) as nowhere:
        await stub.Deploy(
            pb.DeployRequest(name="third", model_version=pb.ModelVersionRef(model="fraud-model", number=1))
        )
    assert nowhere.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    workers = await stub.ListWorkers(pb.ListWorkersRequest())
    assert [(w.id, w.alive) for w in workers.workers] == [("w-1", False)]


async def _versions_answering(client: httpx.AsyncClient, requests: int = 40) -> set[str]:
    return {await answered_version(client) for _ in range(requests)}


async def _canary_shadow_and_automatic_rollback(control: ControlPlane, client: httpx.AsyncClient) -> None:
    """r1 stable; v2 as a canary at 50% (r3); promote; v1 as a shadow (r4) that only listens; r4 as a
    canary whose p99 cannot meet its threshold: the control plane rolls it back by itself."""
    stub = control.stub
    v2 = pb.ModelVersionRef(model="fraud-model", number=2)
    canary = await stub.Update(pb.UpdateRequest(name="fraud", model_version=v2, canary_weight=50))
    assert (canary.traffic.stable_revision, canary.traffic.canary_revision) == (1, 3)

    async def both_answer() -> bool:
        return await _versions_answering(client) == {"1", "3"}

    await until(both_answer)
    split = await _metrics_once(stub, lambda m: _role(m, pb.REVISION_ROLE_CANARY).requests > 0)
    stable, canary = _role(split, pb.REVISION_ROLE_STABLE), _role(split, pb.REVISION_ROLE_CANARY)
    assert [(r.revision, r.role) for r in split.revisions] == [
        (1, pb.REVISION_ROLE_STABLE),
        (3, pb.REVISION_ROLE_CANARY),
    ]
    assert split.requests == stable.requests + canary.requests and stable.requests > 0
    assert split.errors == stable.errors + canary.errors == 0
    assert 0 < canary.latency_p50_ms <= canary.latency_p99_ms <= split.latency_p99_ms
    assert canary.mean_batch_size >= 1
    assert 3 in {
        r.revision for r in (await stub.GetDeployment(pb.GetDeploymentRequest(name="fraud"))).replicas
    }
    promoted = await stub.Promote(pb.PromoteRequest(name="fraud"))
    assert promoted.traffic.stable_revision == 3 and not promoted.traffic.canary_revision
    await until(lambda: _answers(client, "3"))

    v1 = pb.ModelVersionRef(model="fraud-model", number=1)
    shadowed = await stub.Update(pb.UpdateRequest(name="fraud", model_version=v1, shadow=True))
    assert shadowed.traffic.shadow_revision == 4

    async def shadow_ready() -> bool:
        deployment = await stub.GetDeployment(pb.GetDeploymentRequest(name="fraud"))
        return any(r.revision == 4 and r.state == pb.REPLICA_STATE_READY for r in deployment.replicas)

    await until(shadow_ready)
    await asyncio.sleep(1.5)  # the worker sets its routes on the heartbeat after the load
    assert await _versions_answering(client, 20) == {"3"}

    async def compared() -> bool:
        text = (await client.get(control.worker_metrics)).text
        # v1 and v2 differ (two seeds): the shadow's copies disagree with the answers given.
        return 'method="shadow",model="fraud@r4"' in text and 'code="MISMATCH"' in text

    await until(compared)
    listened = await _metrics_once(stub, lambda m: _role(m, pb.REVISION_ROLE_SHADOW).errors > 0)
    shadow = _role(listened, pb.REVISION_ROLE_SHADOW)
    assert shadow.revision == 4 and shadow.requests >= shadow.errors > 0
    # The shadow's copies were answered to nobody: the totals are the stable's alone.
    assert listened.requests == _role(listened, pb.REVISION_ROLE_STABLE).requests

    # r4 becomes the canary with a p99 threshold no request can meet. Its copies as a shadow (MISMATCH
    # errors) are reported apart, so they do not count against it: only what it answers does.
    policy = pb.TrafficPolicy(
        stable_revision=3, canary_revision=4, canary_weight=100, max_p99_latency_ms=0.0001
    )
    await stub.SetTraffic(pb.SetTrafficRequest(name="fraud", traffic=policy))
    canary_view = await stub.GetDeploymentMetrics(pb.GetDeploymentRequest(name="fraud"))
    assert _role(canary_view, pb.REVISION_ROLE_CANARY).errors == 0
    await until(lambda: _answers(client, "4"))

    async def rolled_back() -> bool:
        deployment = await stub.GetDeployment(pb.GetDeploymentRequest(name="fraud"))
        return not deployment.traffic.canary_revision and deployment.traffic.stable_revision == 3

    await until(rolled_back)
    await until(lambda: _answers(client, "3"))


async def _a_failed_load_keeps_the_previous_revision(
    control: ControlPlane, client: httpx.AsyncClient
) -> None:
    stub = control.stub
    v3 = pb.ModelVersionRef(model="fraud-model", number=3)
    broken = await stub.Update(pb.UpdateRequest(name="fraud", model_version=v3))
    assert broken.traffic.stable_revision == 5

    async def failed_with_reason() -> bool:
        deployment = await stub.GetDeployment(pb.GetDeploymentRequest(name="fraud"))
        return (
            deployment.state == pb.DEPLOYMENT_STATE_FAILED
            and "missing-bundle" in deployment.replicas[0].reason
        )

    await until(failed_with_reason)
    assert await _versions_answering(client, 10) == {"3"}
    await stub.Rollback(pb.RollbackRequest(name="fraud", to_revision=3))
    await until(lambda: ready_on(stub, "fraud", 3))


def _role(metrics: pb.DeploymentMetrics, role: pb.RevisionRole) -> pb.RevisionMetrics:
    return next((r for r in metrics.revisions if r.role == role), pb.RevisionMetrics())


async def _metrics_once(
    stub: serving_pb2_grpc.ServingServiceStub, check: Callable[[pb.DeploymentMetrics], bool]
) -> pb.DeploymentMetrics:
    """The deployment's metrics once `check` holds (workers report them on their heartbeats)."""
    found: list[pb.DeploymentMetrics] = []

    async def holds() -> bool:
        found[:] = [await stub.GetDeploymentMetrics(pb.GetDeploymentRequest(name="fraud"))]
        return check(found[0])

    await until(holds)
    return found[0]


async def _has_live_worker(stub: serving_pb2_grpc.ServingServiceStub) -> bool:
    workers = await stub.ListWorkers(pb.ListWorkersRequest())
    return any(w.alive for w in workers.workers)


async def _answers(client: httpx.AsyncClient, version: str) -> bool:
    return await answered_version(client) == version
