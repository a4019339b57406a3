"""Protobuf messages to domain values and back: the only place that knows both."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import timestamp_pb2

from mlops.algorithms.base import Algorithm
from mlops.api.common.v1 import common_pb2
from mlops.api.training.v1 import training_pb2 as pb
from mlops.kernel.errors import InvalidArgument
from mlops.kernel.structs import dict_to_struct
from services.training.domain import Artifact, Run, RunStatus
from services.training.store import LogRecord, SeriesPoint

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def timestamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def from_timestamp(stamp: timestamp_pb2.Timestamp, default: datetime) -> datetime:
    if not stamp.seconds and not stamp.nanos:
        return default
    return stamp.ToDatetime(tzinfo=UTC)


def status_to_proto(status: RunStatus) -> int:
    return pb.RunStatus.Value(f"RUN_STATUS_{status.name}")


def status_from_proto(value: int, *, field: str = "status") -> RunStatus | None:
    if value == pb.RUN_STATUS_UNSPECIFIED:
        return None
    try:
        return RunStatus[pb.RunStatus.Name(value).removeprefix("RUN_STATUS_")]  # type: ignore[arg-type]
    except (KeyError, ValueError):
        raise InvalidArgument(f"unknown run status {value}", field=field) from None


def artifact_to_proto(artifact: Artifact) -> common_pb2.ArtifactRef:
    return common_pb2.ArtifactRef(
        name=artifact.name,
        uri=artifact.uri,
        sha256=artifact.sha256,
        size_bytes=artifact.size_bytes,
        media_type=artifact.media_type,
    )


def artifact_from_proto(ref: common_pb2.ArtifactRef) -> Artifact:
    return Artifact(
        ref.name, ref.uri, ref.sha256, ref.size_bytes, ref.media_type or "application/octet-stream"
    )


def run_to_proto(run: Run) -> pb.Run:
    message = pb.Run(
        id=run.id,
        name=run.name,
        status=status_to_proto(run.status),  # type: ignore[arg-type]
        dataset=pb.DatasetVersionRef(
            dataset_id=run.dataset.dataset_id,
            number=run.dataset.number,
            manifest_digest=run.dataset.manifest_digest,
        ),
        algorithm_id=run.algorithm_id,
        algorithm_version=run.algorithm_version,
        parameters=dict_to_struct(run.parameters),
        defaulted_parameters=run.defaulted_parameters,
        seed=run.seed,
        owner=run.owner,
        pool=run.pool,
        code_version=common_pb2.CodeVersion(
            package_version=run.code_version.package_version,
            git_revision=run.code_version.git_revision,
            library_versions=run.code_version.library_versions,
        ),
        transitions=[
            pb.StatusTransition(
                status=status_to_proto(tr.status),  # type: ignore[arg-type]
                at=timestamp(tr.at),
                reason=tr.reason,
                actor=tr.actor,
            )
            for tr in run.transitions
        ],
        summary_metrics=run.summary_metrics,
        artifacts=[artifact_to_proto(a) for a in run.artifacts],
        failure_reason=run.failure_reason,
        retry_of=run.retry_of,
        reproduction_of=run.reproduction_of,
        created_at=timestamp(run.created_at),
        idempotency_key=run.idempotency_key,
    )
    if run.reproduction_matches is not None:
        message.reproduction_matches = run.reproduction_matches
    return message


def series_to_proto(key: str, points: list[SeriesPoint], total: int) -> pb.MetricSeries:
    return pb.MetricSeries(
        key=key,
        points=[pb.MetricPoint(step=p.step, value=p.value, at=timestamp(p.at)) for p in points],
        total_points=total,
    )


def log_to_proto(line: LogRecord) -> pb.LogLine:
    return pb.LogLine(seq=line.seq, at=timestamp(line.at), stream=line.stream, text=line.text)


def scenario_to_proto(scenario: str) -> int:
    return common_pb2.Scenario.Value(f"SCENARIO_{scenario.upper()}")


def algorithm_to_proto(algorithm: Algorithm) -> pb.Algorithm:
    return pb.Algorithm(
        id=algorithm.id,
        version=algorithm.version,
        scenario=scenario_to_proto(str(algorithm.scenario)),  # type: ignore[arg-type]
        title=algorithm.title,
        description=algorithm.description,
        parameter_schema=dict_to_struct(algorithm.parameter_schema()),
        presets={name: dict_to_struct(values) for name, values in algorithm.presets().items()},
    )


def page_window(page: common_pb2.PageRequest) -> tuple[int, int]:
    size = page.page_size or DEFAULT_PAGE_SIZE
    if size < 0:
        raise InvalidArgument("page_size must not be negative", field="page.page_size")
    size = min(size, MAX_PAGE_SIZE)
    offset = 0
    if page.page_token:
        try:
            offset = int(page.page_token)
        except ValueError:
            raise InvalidArgument("malformed page token", field="page.page_token") from None
        if offset < 0:
            raise InvalidArgument("malformed page token", field="page.page_token")
    return offset, size


def page_response(offset: int, size: int, returned: int, total: int) -> common_pb2.PageResponse:
    following = offset + returned
    return common_pb2.PageResponse(
        next_page_token=str(following) if following < total else "", total_size=total
    )
