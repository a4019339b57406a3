"""`mlops deployments ...`: deploy model versions, scale, update, shift traffic, roll back, stop
(serving control plane gRPC API)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from google.protobuf import json_format
from rich.table import Table

from mlops.api.serving.v1 import serving_pb2 as pb
from mlops.api.serving.v1 import serving_pb2_grpc
from mlops.cli.client import (
    DEFAULT_DATA_DIR,
    CliError,
    DataDirOption,
    JsonOption,
    Platform,
    TokenOption,
    cli_errors,
    connect,
    console,
)

app = typer.Typer(no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="Deployment name (the model name inference clients use).")]
_POOLS = {"cpu": pb.POOL_CPU, "gpu": pb.POOL_GPU}
MB = 1024 * 1024


class _Session:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.stub = serving_pb2_grpc.ServingServiceStub(platform.channel("serving"))
        self.metadata = platform.call_metadata()

    def call(self, method: str, request: Any) -> Any:
        return getattr(self.stub, method)(request, metadata=self.metadata, timeout=self.platform.timeout)


def _session(data_dir: Path, token: str | None) -> _Session:
    return _Session(connect(data_dir, token))


def _emit(message: Any) -> None:
    typer.echo(json.dumps(json_format.MessageToDict(message, preserving_proto_field_name=True), indent=2))


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
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """A new revision: another model version or batching; all traffic once warm unless a canary."""
    with cli_errors():
        request = pb.UpdateRequest(name=name, canary_weight=canary, shadow=shadow)
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
