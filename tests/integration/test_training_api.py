"""The training service's gRPC API against a real dataset service, without workers.

Bad input from the issue: unknown and archived dataset versions, invalid parameter types and bounds,
a reused idempotency key with other parameters, a stop of a finished run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import struct_pb2

from mlops.api.dataset.v1 import dataset_pb2
from mlops.api.training.v1 import training_pb2 as pb
from mlops.kernel.events.testing import eventually
from mlops.stack.servers import NatsServer
from tests.fixtures.s3 import S3Endpoint, unique_bucket
from tests.training.harness import (
    EVE,
    SID,
    TEXT,
    VERA,
    WORKER,
    RecordingDispatcher,
    TrainingStack,
    run_events,
    training_stack,
)


@pytest.fixture
async def stack(
    tmp_path: Path, nats_server: NatsServer, s3_server: S3Endpoint, redis_url: str
) -> AsyncIterator[TrainingStack]:
    async with training_stack(
        tmp_path,
        nats_server.url,
        s3_server.settings(unique_bucket()),
        redis_url,
        dispatcher=RecordingDispatcher(),
        max_active_runs_per_user=3,
    ) as running:
        yield running


def params(**values: object) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


def start_request(version: pb.DatasetVersionRef, **fields: object) -> pb.StartRunRequest:
    fields.setdefault("algorithm_id", TEXT)
    fields.setdefault("preset", "quick")
    return pb.StartRunRequest(dataset=version, **fields)  # type: ignore[arg-type]


async def expect_error(call: object, code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call  # type: ignore[misc]
    assert raised.value.code() == code, raised.value.details()
    return raised.value.details() or ""


async def test_start_run_records_the_inputs_and_publishes_run_queued(stack: TrainingStack) -> None:
    version = await stack.text_version()
    stub = stack.stub()
    run = await stub.StartRun(
        start_request(version, name="first", parameters=params(epochs=2), seed=11, idempotency_key="k1")
    )
    assert run.status == pb.RUN_STATUS_QUEUED
    assert run.owner == "sam" and run.name == "first" and run.seed == 11 and run.pool == "cpu"
    assert len(run.dataset.manifest_digest) == 64
    assert run.parameters["epochs"] == 2
    assert "learning_rate" in run.defaulted_parameters and "epochs" not in run.defaulted_parameters
    assert run.code_version.package_version
    assert "torch" in run.code_version.library_versions
    assert [t.status for t in run.transitions] == [pb.RUN_STATUS_QUEUED]
    assert stack.dispatcher.sent == [(run.id, "cpu")]  # type: ignore[union-attr]

    fetched = await stub.GetRun(pb.GetRunRequest(run_id=run.id))
    assert fetched == run
    listed = await stub.ListRuns(pb.ListRunsRequest(owner="sam"))
    assert [r.id for r in listed.runs] == [run.id]

    async def queued_published() -> bool:
        return await run_events(stack.nats_url, run.id) == ["RunQueued"]

    await eventually(queued_published, within=10)


async def test_the_same_idempotency_key_gives_the_same_run(stack: TrainingStack) -> None:
    version = await stack.text_version()
    stub = stack.stub()
    first = await stub.StartRun(start_request(version, idempotency_key="again"))
    second = await stub.StartRun(start_request(version, idempotency_key="again"))
    assert second.id == first.id
    assert len(stack.dispatcher.sent) == 1  # type: ignore[union-attr]


async def test_a_reused_key_with_other_parameters_names_the_original_run(stack: TrainingStack) -> None:
    version = await stack.text_version()
    stub = stack.stub()
    first = await stub.StartRun(start_request(version, idempotency_key="k"))
    details = await expect_error(
        stub.StartRun(start_request(version, idempotency_key="k", parameters=params(epochs=3))),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    assert first.id in details


async def test_unknown_and_archived_dataset_versions_are_refused(stack: TrainingStack) -> None:
    version = await stack.text_version()
    stub = stack.stub()
    missing = pb.DatasetVersionRef(dataset_id=version.dataset_id, number=99)
    await expect_error(stub.StartRun(start_request(missing)), grpc.StatusCode.NOT_FOUND)
    unknown = pb.DatasetVersionRef(dataset_id="nope", number=1)
    await expect_error(stub.StartRun(start_request(unknown)), grpc.StatusCode.NOT_FOUND)
    await stack.datasets().ArchiveVersion(
        dataset_pb2.ArchiveVersionRequest(dataset_id=version.dataset_id, number=version.number)
    )
    details = await expect_error(stub.StartRun(start_request(version)), grpc.StatusCode.FAILED_PRECONDITION)
    assert "archived" in details


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"epochs": "many"}, "parameters.epochs"),
        ({"epochs": 0}, "parameters.epochs"),
        ({"epochs": 5000}, "parameters.epochs"),
        ({"batch_size": 17}, "parameters.batch_size"),
        ({"no_such_knob": 1}, "parameters.no_such_knob"),
    ],
)
async def test_invalid_parameters_are_refused_with_the_field(
    stack: TrainingStack, values: dict[str, object], field: str
) -> None:
    version = pb.DatasetVersionRef(dataset_id="unchecked", number=1)
    details = await expect_error(
        stack.stub().StartRun(start_request(version, parameters=params(**values))),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert field in details


async def test_unknown_algorithm_and_pool_are_refused(stack: TrainingStack) -> None:
    version = pb.DatasetVersionRef(dataset_id="unchecked", number=1)
    stub = stack.stub()
    await expect_error(stub.StartRun(start_request(version, algorithm_id="nope")), grpc.StatusCode.NOT_FOUND)
    await expect_error(stub.StartRun(start_request(version, pool="tpu")), grpc.StatusCode.INVALID_ARGUMENT)


async def test_duplicates_and_the_user_limit(stack: TrainingStack) -> None:
    version = await stack.text_version()
    stub = stack.stub()
    await stub.StartRun(start_request(version))
    details = await expect_error(stub.StartRun(start_request(version)), grpc.StatusCode.FAILED_PRECONDITION)
    assert "allow_duplicate" in details
    await stub.StartRun(start_request(version, allow_duplicate=True))
    await stub.StartRun(start_request(version, parameters=params(epochs=3)))
    await expect_error(
        stub.StartRun(start_request(version, parameters=params(epochs=5))), grpc.StatusCode.RESOURCE_EXHAUSTED
    )
    # Another user has a limit of their own.
    await stack.stub(SID).StartRun(start_request(version, parameters=params(epochs=5)))


async def test_stop_needs_the_owner_or_an_engineer_and_the_name(stack: TrainingStack) -> None:
    version = await stack.text_version()
    run = await stack.stub().StartRun(start_request(version, name="careful"))
    await expect_error(
        stack.stub(SID).StopRun(pb.StopRunRequest(run_id=run.id, confirm_name="careful")),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    await expect_error(
        stack.stub(VERA).StopRun(pb.StopRunRequest(run_id=run.id, confirm_name="careful")),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    await expect_error(
        stack.stub().StopRun(pb.StopRunRequest(run_id=run.id, confirm_name="carful")),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    stopped = await stack.stub(EVE).StopRun(
        pb.StopRunRequest(run_id=run.id, confirm_name="careful", reason="wrong data")
    )
    # A queued run is cancelled at once.
    assert stopped.status == pb.RUN_STATUS_CANCELLED
    assert stopped.transitions[-1].actor == "eve" and stopped.transitions[-1].reason == "wrong data"
    details = await expect_error(
        stack.stub().StopRun(pb.StopRunRequest(run_id=run.id, confirm_name="careful")),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert "cancelled" in details
    retried = await stack.stub().RetryRun(pb.RetryRunRequest(run_id=run.id))
    assert retried.retry_of == run.id and retried.status == pb.RUN_STATUS_QUEUED
    assert retried.parameters == run.parameters and retried.seed == run.seed


async def test_worker_methods_need_the_service_role(stack: TrainingStack) -> None:
    await expect_error(
        stack.stub(EVE).ClaimRun(pb.ClaimRunRequest(run_id="x", worker="w")),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    await expect_error(
        stack.stub().ReportProgress(pb.ReportProgressRequest(run_id="x", worker="w")),
        grpc.StatusCode.PERMISSION_DENIED,
    )


async def test_algorithms_are_listed_with_schema_and_presets(stack: TrainingStack) -> None:
    stub = stack.stub(VERA)
    listed = await stub.ListAlgorithms(pb.ListAlgorithmsRequest())
    assert TEXT in [a.id for a in listed.algorithms]
    algorithm = await stub.GetAlgorithm(pb.GetAlgorithmRequest(id=TEXT))
    assert "epochs" in algorithm.parameter_schema["properties"]
    assert "quick" in algorithm.presets
    await expect_error(stub.GetAlgorithm(pb.GetAlgorithmRequest(id="nope")), grpc.StatusCode.NOT_FOUND)


async def test_the_run_lifecycle_on_postgresql(
    tmp_path: Path, nats_server: NatsServer, s3_server: S3Endpoint, redis_url: str, postgres_url: str
) -> None:
    async with training_stack(
        tmp_path,
        nats_server.url,
        s3_server.settings(unique_bucket()),
        redis_url,
        dispatcher=RecordingDispatcher(),
        database_url=postgres_url,
    ) as stack:
        version = await stack.text_version()
        stub = stack.stub()
        run = await stub.StartRun(start_request(version, name="pg", idempotency_key="pg-1"))
        assert (await stub.StartRun(start_request(version, name="pg", idempotency_key="pg-1"))).id == run.id
        await expect_error(
            stub.StartRun(start_request(version, idempotency_key="pg-1", seed=3)),
            grpc.StatusCode.ALREADY_EXISTS,
        )
        await expect_error(stub.StartRun(start_request(version)), grpc.StatusCode.FAILED_PRECONDITION)
        worker = stack.stub(WORKER)
        claim = await worker.ClaimRun(pb.ClaimRunRequest(run_id=run.id, worker="w1", lease_seconds=30))
        assert claim.granted and claim.run.status == pb.RUN_STATUS_RUNNING
        assert not (await worker.ClaimRun(pb.ClaimRunRequest(run_id=run.id, worker="w2"))).granted
        samples = [pb.MetricSample(key="loss", step=step, value=1 / (step + 1)) for step in range(200)]
        reply = await worker.ReportProgress(
            pb.ReportProgressRequest(
                run_id=run.id, worker="w1", metrics=samples, logs=[pb.LogLine(text="hi")]
            )
        )
        assert not reply.lease_lost and not reply.stop_requested
        await stub.StopRun(pb.StopRunRequest(run_id=run.id, confirm_name="pg"))
        assert (
            await worker.ReportProgress(pb.ReportProgressRequest(run_id=run.id, worker="w1"))
        ).stop_requested
        done = await worker.CompleteRun(
            pb.CompleteRunRequest(run_id=run.id, worker="w1", status=pb.RUN_STATUS_CANCELLED)
        )
        assert done.status == pb.RUN_STATUS_CANCELLED
        history = await stub.GetMetricHistory(pb.GetMetricHistoryRequest(run_id=run.id, max_points=50))
        assert history.series[0].total_points == 200 and len(history.series[0].points) <= 50
        assert [line.text for line in (await stub.GetLogs(pb.GetLogsRequest(run_id=run.id))).lines] == ["hi"]
        listed = await stub.ListRuns(pb.ListRunsRequest(status=pb.RUN_STATUS_CANCELLED))
        assert [r.id for r in listed.runs] == [run.id]


async def test_concurrent_identical_starts_on_postgresql_queue_one_run(
    tmp_path: Path, nats_server: NatsServer, s3_server: S3Endpoint, redis_url: str, postgres_url: str
) -> None:
    async with training_stack(
        tmp_path,
        nats_server.url,
        s3_server.settings(unique_bucket()),
        redis_url,
        dispatcher=RecordingDispatcher(),
        database_url=postgres_url,
        max_active_runs_per_user=50,
    ) as stack:
        version = await stack.text_version()
        stub = stack.stub()
        outcomes = await asyncio.gather(
            *(stub.StartRun(start_request(version)) for _ in range(24)), return_exceptions=True
        )
        started = [o for o in outcomes if isinstance(o, pb.Run)]
        refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
        assert len(started) == 1, outcomes
        assert len(refused) == 23
        assert all(e.code() == grpc.StatusCode.FAILED_PRECONDITION for e in refused)
        listed = await stub.ListRuns(pb.ListRunsRequest())
        assert [r.id for r in listed.runs] == [started[0].id]
