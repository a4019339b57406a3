"""`mlops deployments ...`: deploy model versions, scale, update, shift traffic, roll back, stop
(serving control plane gRPC API)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mlops.api.serving.v1 import serving_pb2 as pb
from mlops.api.serving.v1 import serving_pb2_grpc
from mlops.cli.client import (
    DEFAULT_DATA_DIR,
    CliError,
    DataDirOption,
    JsonOption,
    ServiceSession,
    TokenOption,
    cli_errors,
    connect,
    console,
    emit_message,
    message_document,
)

app = typer.Typer(no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="Deployment name (the model name inference clients use).")]
RequestLoggingOption = Annotated[
    bool, typer.Option("--request-logging", help="Log sampled requests and answers to the object store.")
]
SampleRateOption = Annotated[
    float | None, typer.Option("--log-sample-rate", help="Fraction of requests logged (0-1]; default 1.")
]
MaxPayloadOption = Annotated[
    int | None,
    typer.Option("--log-max-payload-bytes", help="Tensor bytes a record keeps; larger: logged without data."),
]
_POOLS = {"cpu": pb.POOL_CPU, "gpu": pb.POOL_GPU}
MB = 1024 * 1024


def _session(data_dir: Path, token: str | None) -> ServiceSession:
    return ServiceSession(connect(data_dir, token), "serving", serving_pb2_grpc.ServingServiceStub)


_emit = emit_message


def _pool(value: str) -> Any:
    if value.lower() not in _POOLS:
        raise CliError(f"unknown pool {value!r}; one of {', '.join(_POOLS)}")
    return _POOLS[value.lower()]


def _state(value: int) -> str:
    return pb.DeploymentState.Name(value).removeprefix("DEPLOYMENT_STATE_").lower()  # type: ignore[arg-type]


def _replica_state(value: int) -> str:
    return pb.ReplicaState.Name(value).removeprefix("REPLICA_STATE_").lower()  # type: ignore[arg-type]


def _serves(deployment: pb.Deployment, number: int) -> str:
    for revision in deployment.revisions:
        if revision.number == number:
            return f"r{number} ({revision.model_version.model} v{revision.model_version.number})"
    return "-"


def _show(deployment: pb.Deployment, as_json: bool) -> None:
    if as_json:
        _emit(deployment)
        return
    traffic = deployment.traffic
    console.print(f"[bold]{deployment.name}[/] {_state(deployment.state)}", highlight=False)
    console.print(f"  stable: {_serves(deployment, traffic.stable_revision)}", highlight=False)
    if traffic.canary_revision:
        console.print(
            f"  canary: {_serves(deployment, traffic.canary_revision)} at {traffic.canary_weight}%",
            highlight=False,
        )
    if traffic.shadow_revision:
        console.print(f"  shadow: {_serves(deployment, traffic.shadow_revision)}", highlight=False)
    console.print(
        f"  public: {'yes' if deployment.public else 'no'}   owner: {deployment.owner}", highlight=False
    )
    if deployment.request_logging:
        console.print(
            f"  request logging: {deployment.request_log_sample_rate:g} of requests, "
            f"up to {deployment.request_log_max_payload_bytes} bytes each",
            highlight=False,
        )
    for replica in deployment.replicas:
        reason = f" ({replica.reason})" if replica.reason else ""
        console.print(
            f"  replica {replica.id} r{replica.revision} on {replica.worker_id or '-'}: "
            f"{_replica_state(replica.state)}{reason} {replica.provider}",
            highlight=False,
        )


@app.command()
def deploy(
    name: NameArg,
    model: Annotated[str, typer.Option("--model", "-m", help="Registered model name.")],
    version: Annotated[int, typer.Option("--version", "-v", help="Model version number.")],
    replicas: Annotated[int, typer.Option("--replicas", "-r")] = 1,
    pool: Annotated[str, typer.Option("--pool", help="cpu or gpu.")] = "cpu",
    memory_mb: Annotated[int, typer.Option("--memory-mb", help="Per replica; 0: the default.")] = 0,
    threads: Annotated[int, typer.Option("--threads", help="Per replica; 0: the default.")] = 0,
    gpu_share: Annotated[float, typer.Option("--gpu-share", help="Fraction of a GPU per replica.")] = 0.0,
    max_batch_size: Annotated[int, typer.Option("--max-batch-size")] = 0,
    max_queue_delay_us: Annotated[int, typer.Option("--max-queue-delay-us")] = 0,
    public: Annotated[bool, typer.Option("--public", help="Inference without a token.")] = False,
    idle_after: Annotated[int, typer.Option("--idle-after", help="Seconds without traffic: idle.")] = 0,
    ttl: Annotated[int, typer.Option("--ttl", help="Seconds until stopped; 0: never.")] = 0,
    request_logging: RequestLoggingOption = False,
    log_sample_rate: SampleRateOption = None,
    log_max_payload_bytes: MaxPayloadOption = None,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Serve a model version under NAME."""
    with cli_errors():
        request = pb.DeployRequest(
            name=name,
            model_version=pb.ModelVersionRef(model=model, number=version),
            pool=_pool(pool),
            replicas=replicas,
            batching=pb.Batching(max_batch_size=max_batch_size, max_queue_delay_us=max_queue_delay_us),
            public=public,
            idle_after_seconds=idle_after,
            ttl_seconds=ttl,
            request_logging=request_logging,
            request_log_sample_rate=log_sample_rate or 0.0,
            request_log_max_payload_bytes=log_max_payload_bytes or 0,
        )
        if memory_mb or threads or gpu_share:
            request.resources.CopyFrom(
                pb.Resources(
                    memory_bytes=memory_mb * MB or 256 * MB, threads=threads or 1, gpu_share=gpu_share
                )
            )
        _show(_session(data_dir, token).call("Deploy", request), as_json)


@app.command("list")
def list_deployments(
    data_dir: DataDirOption = DEFAULT_DATA_DIR, token: TokenOption = None, as_json: JsonOption = False
) -> None:
    """Every deployment with its state and what it serves."""
    with cli_errors():
        found = _session(data_dir, token).call("ListDeployments", pb.ListDeploymentsRequest())
        if as_json:
            _emit(found)
            return
        table = Table("name", "state", "stable", "canary", "replicas")
        for d in found.deployments:
            canary = (
                f"{_serves(d, d.traffic.canary_revision)} {d.traffic.canary_weight}%"
                if d.traffic.canary_revision
                else "-"
            )
            ready = sum(r.state == pb.REPLICA_STATE_READY for r in d.replicas)
            table.add_row(
                d.name,
                _state(d.state),
                _serves(d, d.traffic.stable_revision),
                canary,
                f"{ready}/{len(d.replicas)}",
            )
        console.print(table)


@app.command()
def show(
    name: NameArg,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """A deployment's traffic policy and replicas."""
    with cli_errors():
        _show(_session(data_dir, token).call("GetDeployment", pb.GetDeploymentRequest(name=name)), as_json)


@app.command()
def scale(
    name: NameArg,
    replicas: Annotated[int, typer.Argument(help="Replica count.")],
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change the replica count (a new revision)."""
    with cli_errors():
        _show(_session(data_dir, token).call("Scale", pb.ScaleRequest(name=name, replicas=replicas)), as_json)


@app.command()
def update(
    name: NameArg,
    version: Annotated[int, typer.Option("--version", "-v", help="Model version to serve.")] = 0,
    model: Annotated[str, typer.Option("--model", "-m", help="Default: the model served now.")] = "",
    canary: Annotated[int, typer.Option("--canary", help="Start as a canary with this weight (%).")] = 0,
    shadow: Annotated[bool, typer.Option("--shadow", help="Start as a shadow.")] = False,
    max_batch_size: Annotated[int | None, typer.Option("--max-batch-size")] = None,
    max_queue_delay_us: Annotated[int, typer.Option("--max-queue-delay-us")] = 0,
    request_logging: Annotated[
        bool | None,
        typer.Option("--request-logging/--no-request-logging", help="Switch request logging (in place)."),
    ] = None,
    log_sample_rate: SampleRateOption = None,
    log_max_payload_bytes: MaxPayloadOption = None,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """A new revision: another model version or batching; all traffic once warm unless a canary.
    Request-logging settings alone change the deployment in place, without a revision."""
    with cli_errors():
        request = pb.UpdateRequest(name=name, canary_weight=canary, shadow=shadow)
        if request_logging is not None:
            request.request_logging = request_logging
        if log_sample_rate is not None:
            request.request_log_sample_rate = log_sample_rate
        if log_max_payload_bytes is not None:
            request.request_log_max_payload_bytes = log_max_payload_bytes
        if version:
            request.model_version.CopyFrom(pb.ModelVersionRef(model=model, number=version))
        if max_batch_size is not None:
            request.batching.CopyFrom(
                pb.Batching(max_batch_size=max_batch_size, max_queue_delay_us=max_queue_delay_us)
            )
        _show(_session(data_dir, token).call("Update", request), as_json)


@app.command()
def traffic(
    name: NameArg,
    stable: Annotated[int, typer.Option("--stable", help="Stable revision.")],
    canary: Annotated[int, typer.Option("--canary", help="Canary revision; 0: none.")] = 0,
    weight: Annotated[int, typer.Option("--weight", help="Canary weight (%).")] = 0,
    shadow: Annotated[int, typer.Option("--shadow", help="Shadow revision; 0: none.")] = 0,
    max_error_rate: Annotated[float, typer.Option("--max-error-rate", help="Automatic rollback.")] = 0.0,
    max_p99_ms: Annotated[float, typer.Option("--max-p99-ms", help="Automatic rollback.")] = 0.0,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set the traffic policy and the canary's automatic rollback thresholds."""
    with cli_errors():
        policy = pb.TrafficPolicy(
            stable_revision=stable,
            canary_revision=canary,
            canary_weight=weight,
            shadow_revision=shadow,
            max_error_rate=max_error_rate,
            max_p99_latency_ms=max_p99_ms,
        )
        _show(
            _session(data_dir, token).call("SetTraffic", pb.SetTrafficRequest(name=name, traffic=policy)),
            as_json,
        )


@app.command()
def promote(
    name: NameArg,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """The canary (or shadow) becomes stable."""
    with cli_errors():
        _show(_session(data_dir, token).call("Promote", pb.PromoteRequest(name=name)), as_json)


@app.command()
def rollback(
    name: NameArg,
    to: Annotated[int, typer.Option("--to", help="Revision; default: the previous stable one.")] = 0,
    reason: Annotated[str, typer.Option("--reason")] = "",
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Back to an earlier revision."""
    with cli_errors():
        request = pb.RollbackRequest(name=name, to_revision=to, reason=reason)
        _show(_session(data_dir, token).call("Rollback", request), as_json)


@app.command()
def revisions(
    name: NameArg,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every revision and the model version it serves."""
    with cli_errors():
        found = _session(data_dir, token).call("ListRevisions", pb.GetDeploymentRequest(name=name))
        if as_json:
            _emit(found)
            return
        table = Table("revision", "model version", "replicas", "batching", "by", "reason")
        for r in found.revisions:
            table.add_row(
                f"r{r.number}",
                f"{r.model_version.model} v{r.model_version.number}",
                str(r.replicas),
                f"{r.batching.max_batch_size}/{r.batching.max_queue_delay_us}us",
                r.created_by,
                r.reason,
            )
        console.print(table)


@app.command()
def stop(
    name: NameArg,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stop serving: workers unload the model and free its memory."""
    with cli_errors():
        _show(_session(data_dir, token).call("Stop", pb.GetDeploymentRequest(name=name)), as_json)


@app.command()
def remove(name: NameArg, data_dir: DataDirOption = DEFAULT_DATA_DIR, token: TokenOption = None) -> None:
    """Forget a deployment and its revisions."""
    with cli_errors():
        _session(data_dir, token).call("Remove", pb.GetDeploymentRequest(name=name))
        console.print(f"removed {name}", highlight=False)


@app.command()
def metrics(
    name: NameArg,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Requests, errors, latency and batching as the workers report them."""
    with cli_errors():
        m = _session(data_dir, token).call("GetDeploymentMetrics", pb.GetDeploymentRequest(name=name))
        if as_json:
            _emit(m)
            return
        console.print(
            f"{m.name}: {m.requests} requests, {m.errors} errors, p50 {m.latency_p50_ms:.2f} ms, "
            f"p99 {m.latency_p99_ms:.2f} ms, mean batch {m.mean_batch_size:.1f}, "
            f"mean queue {m.mean_queue_time_ms:.2f} ms",
            highlight=False,
        )
        if m.revisions:
            console.print(_revision_metrics_table(m.revisions))


def _revision_metrics_table(revisions: Iterable[pb.RevisionMetrics]) -> Table:
    table = Table("revision", "role", "requests", "errors", "p50 ms", "p99 ms", "mean batch", "queue ms")
    for r in revisions:
        table.add_row(
            str(r.revision),
            pb.RevisionRole.Name(r.role).removeprefix("REVISION_ROLE_").lower(),
            str(r.requests),
            str(r.errors),
            f"{r.latency_p50_ms:.2f}",
            f"{r.latency_p99_ms:.2f}",
            f"{r.mean_batch_size:.1f}",
            f"{r.mean_queue_time_ms:.2f}",
        )
    return table


@app.command()
def workers(
    pool: Annotated[str, typer.Option("--pool", help="cpu or gpu; default: all.")] = "",
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """The serving workers, their capacity and whether they are alive."""
    with cli_errors():
        request = pb.ListWorkersRequest(pool=_pool(pool) if pool else pb.POOL_UNSPECIFIED)
        found = _session(data_dir, token).call("ListWorkers", request)
        if as_json:
            _emit(found)
            return
        table = Table("worker", "pool", "address", "memory", "threads", "providers", "alive")
        for w in found.workers:
            table.add_row(
                w.id,
                pb.Pool.Name(w.pool).removeprefix("POOL_").lower(),
                w.address,
                f"{w.memory_bytes // MB} MB",
                str(w.threads),
                ", ".join(w.providers),
                "yes" if w.alive else "no",
            )
        console.print(table)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _since(value: str) -> datetime:
    """`30m`, `2h`, `7d` ago, or an ISO 8601 time (UTC unless it says otherwise)."""
    unit = _UNITS.get(value[-1:])
    if unit is not None and value[:-1].isdigit():
        return datetime.now(UTC) - timedelta(seconds=int(value[:-1]) * unit)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(f"--since {value!r}: a duration such as 30m, 2h, 7d, or an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _payload_summary(text: str, truncated: bool) -> str:
    if truncated:
        return "(over the cap)"
    payload = json.loads(text)
    if payload and all(isinstance(t, dict) and "shape" in t for t in payload):
        return ", ".join(f"{t['name']} {t['datatype']}{t['shape']}" for t in payload)
    return f"{len(payload)} item(s)"


def _record_dict(record: pb.RequestLogRecord) -> dict[str, Any]:
    document = message_document(record)
    for side in ("inputs", "outputs"):
        text = document.pop(f"{side}_json", "")
        document[side] = json.loads(text) if text else None
    return document


@app.command("request-log")
def request_log(
    name: NameArg,
    since: Annotated[str, typer.Option("--since", help="30m, 2h, 7d, or an ISO 8601 time.")] = "24h",
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many records.")] = 20,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Sampled requests and answers the workers logged for NAME (request logging on), oldest first."""
    with cli_errors():
        if limit < 1:
            raise CliError("--limit must be at least 1")
        session = _session(data_dir, token)
        request = pb.ListRequestLogRecordsRequest(name=name)
        request.start_time.FromDatetime(_since(since))
        records: list[pb.RequestLogRecord] = []
        while len(records) < limit:
            request.page.page_size = min(limit - len(records), 1000)
            found = session.call("ListRequestLogRecords", request)
            records.extend(found.records)
            if not found.page.next_page_token:
                break
            request.page.page_token = found.page.next_page_token
        if as_json:
            typer.echo(json.dumps({"records": [_record_dict(r) for r in records]}, indent=2))
            return
        if not records:
            console.print(f"no request log records for {name} since {since}", highlight=False)
            return
        table = Table("time", "revision", "model", "request", "latency ms", "inputs", "outputs")
        for r in records:
            table.add_row(
                r.time.ToDatetime(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                f"r{r.revision}",
                f"{r.model_version.model} v{r.model_version.number}",
                f"{r.protocol} {r.endpoint} {r.request_id}",
                f"{r.latency_ms:.2f}",
                _payload_summary(r.inputs_json, r.truncated),
                _payload_summary(r.outputs_json, r.truncated),
            )
        console.print(table)
