"""`mlops runs ...` and `mlops algorithms ...`: training runs through the training service's gRPC API.

A DATASET argument is a dataset's id or its name; a RUN argument is a run's id.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from google.protobuf import json_format, struct_pb2
from rich.table import Table

from mlops.api.common.v1 import common_pb2
from mlops.api.training.v1 import training_pb2 as pb
from mlops.api.training.v1 import training_pb2_grpc
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
)

app = typer.Typer(no_args_is_help=True)
algorithms_app = typer.Typer(no_args_is_help=True)

LONG_TIMEOUT = 3600.0
FOLLOW_TIMEOUT = 7 * 24 * 3600.0
_FINAL = {pb.RUN_STATUS_SUCCEEDED, pb.RUN_STATUS_FAILED, pb.RUN_STATUS_CANCELLED}

RunArg = Annotated[str, typer.Argument(help="Run id.")]


def _session(data_dir: Path, token: str | None) -> ServiceSession:
    return ServiceSession(connect(data_dir, token), "training", training_pb2_grpc.TrainingServiceStub)


_emit = emit_message


def status_name(value: int) -> str:
    return pb.RunStatus.Name(value).removeprefix("RUN_STATUS_").lower()  # type: ignore[arg-type]


def _status(value: str) -> Any:
    key = "RUN_STATUS_" + value.strip().upper()
    if key not in pb.RunStatus.keys() or key == "RUN_STATUS_UNSPECIFIED":
        names = ", ".join(k.removeprefix("RUN_STATUS_").lower() for k in pb.RunStatus.keys()[1:])
        raise CliError(f"unknown status {value!r}; one of {names}")
    return pb.RunStatus.Value(key)


def parse_parameters(pairs: list[str], file: Path | None) -> dict[str, Any]:
    """`name=value` pairs (values read as JSON where they parse, else as text) over a JSON file's."""
    values: dict[str, Any] = {}
    if file is not None:
        loaded = json.loads(file.read_text())
        if not isinstance(loaded, dict):
            raise CliError(f"{file} must hold a JSON object of parameters")
        values.update(loaded)
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise CliError(f"parameters are name=value, not {pair!r}")
        try:
            values[name] = json.loads(raw)
        except json.JSONDecodeError:
            values[name] = raw
    return values


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


def _plain(value: Any) -> Any:
    """Struct numbers are doubles; show whole ones as integers (an epoch count is 3, not 3.0)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _short_time(stamp: Any) -> str:
    return stamp.ToDatetime().strftime("%Y-%m-%d %H:%M:%S") if stamp.seconds else ""


def _print_run(run: pb.Run) -> None:
    console.print(f"[bold]{run.name}[/] ({run.id}): {status_name(run.status)}", highlight=False)
    console.print(
        f"  {run.algorithm_id} {run.algorithm_version} on dataset {run.dataset.dataset_id} "
        f"v{run.dataset.number}, seed {run.seed}, pool {run.pool}, owner {run.owner}",
        highlight=False,
    )
    if run.failure_reason:
        console.print(f"  failure: {run.failure_reason}", highlight=False)
    if run.retry_of:
        console.print(f"  retry of {run.retry_of}", highlight=False)
    if run.reproduction_of:
        matches = "pending" if not run.HasField("reproduction_matches") else str(run.reproduction_matches)
        console.print(
            f"  reproduction of {run.reproduction_of}; model hash matches: {matches}", highlight=False
        )
    parameters = {k: _plain(v) for k, v in json_format.MessageToDict(run.parameters).items()}
    defaulted = set(run.defaulted_parameters)
    table = Table("parameter", "value", "source")
    for name in sorted(parameters):
        table.add_row(name, json.dumps(parameters[name]), "default" if name in defaulted else "set")
    console.print(table)
    for transition in run.transitions:
        console.print(
            f"  {_short_time(transition.at)} {status_name(transition.status):<9} by {transition.actor}: "
            f"{transition.reason}",
            highlight=False,
        )
    for key, value in sorted(run.summary_metrics.items()):
        console.print(f"  {key} = {value:.4f}", highlight=False)


@app.command()
def start(
    algorithm: Annotated[str, typer.Argument(help="Algorithm id (see `mlops algorithms list`).")],
    dataset: Annotated[str, typer.Argument(help="Dataset id or name.")],
    version: Annotated[int, typer.Argument(help="Published version number.")],
    name: Annotated[str, typer.Option("--name", "-n")] = "",
    preset: Annotated[str, typer.Option("--preset", "-p", help="e.g. quick or default.")] = "",
    param: Annotated[list[str] | None, typer.Option("--param", "-P", help="name=value; repeatable.")] = None,
    params_file: Annotated[
        Path | None, typer.Option("--params-file", help="JSON object of parameters.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="0: pick one.")] = 0,
    pool: Annotated[str, typer.Option("--pool", help="cpu or gpu.")] = "cpu",
    idempotency_key: Annotated[str, typer.Option("--idempotency-key", help="Retries start one run.")] = "",
    allow_duplicate: Annotated[bool, typer.Option("--allow-duplicate")] = False,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start a training run on a published dataset version."""
    with cli_errors():
        session = _session(data_dir, token)
        request = pb.StartRunRequest(
            name=name,
            dataset=pb.DatasetVersionRef(dataset_id=session.dataset(dataset).id, number=version),
            algorithm_id=algorithm,
            parameters=_struct(parse_parameters(param or [], params_file)),
            preset=preset,
            seed=seed,
            pool=pool,
            idempotency_key=idempotency_key,
            allow_duplicate=allow_duplicate,
        )
        run = session.call("StartRun", request)
    _emit(run) if as_json else _print_run(run)


@app.command("list")
def list_runs(
    status: Annotated[str, typer.Option("--status")] = "",
    owner: Annotated[str, typer.Option("--owner")] = "",
    dataset: Annotated[str, typer.Option("--dataset", help="Dataset id or name.")] = "",
    algorithm: Annotated[str, typer.Option("--algorithm")] = "",
    limit: Annotated[int, typer.Option("--limit")] = 50,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List runs, newest first."""
    with cli_errors():
        session = _session(data_dir, token)
        reply = session.call(
            "ListRuns",
            pb.ListRunsRequest(
                status=_status(status) if status else None,
                owner=owner,
                dataset_id=session.dataset(dataset).id if dataset else "",
                algorithm_id=algorithm,
                page=common_pb2.PageRequest(page_size=limit),
            ),
        )
    if as_json:
        _emit(reply)
        return
    table = Table("id", "name", "status", "algorithm", "dataset", "owner", "created")
    for run in reply.runs:
        table.add_row(
            run.id,
            run.name,
            status_name(run.status),
            run.algorithm_id,
            f"{run.dataset.dataset_id[:8]} v{run.dataset.number}",
            run.owner,
            _short_time(run.created_at),
        )
    console.print(table)
    console.print(f"{len(reply.runs)} of {reply.page.total_size} runs", highlight=False)


@app.command()
def show(
    run: RunArg,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a run: inputs, resolved parameters (defaults marked), transitions and summary metrics."""
    with cli_errors():
        found = _session(data_dir, token).call("GetRun", pb.GetRunRequest(run_id=run))
    _emit(found) if as_json else _print_run(found)


@app.command()
def stop(
    run: RunArg,
    confirm: Annotated[str, typer.Option("--confirm", help="The run's name, to confirm.")],
    reason: Annotated[str, typer.Option("--reason")] = "",
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stop a run (cooperatively; a queued run is cancelled at once)."""
    with cli_errors():
        found = _session(data_dir, token).call(
            "StopRun", pb.StopRunRequest(run_id=run, confirm_name=confirm, reason=reason)
        )
    _emit(found) if as_json else _print_run(found)


@app.command()
def retry(
    run: RunArg,
    idempotency_key: Annotated[str, typer.Option("--idempotency-key")] = "",
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start a new run with a finished run's inputs, linked to it."""
    with cli_errors():
        found = _session(data_dir, token).call(
            "RetryRun", pb.RetryRunRequest(run_id=run, idempotency_key=idempotency_key)
        )
    _emit(found) if as_json else _print_run(found)


@app.command()
def reproduce(
    run: RunArg,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for it and report whether the model matches.")
    ] = False,
    idempotency_key: Annotated[str, typer.Option("--idempotency-key")] = "",
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-run a succeeded run with the same inputs and seed; compare the model's hash."""
    with cli_errors():
        session = _session(data_dir, token)
        found = session.call(
            "ReproduceRun", pb.ReproduceRunRequest(run_id=run, idempotency_key=idempotency_key)
        )
        while wait and found.status not in _FINAL:
            time.sleep(1.0)
            found = session.call("GetRun", pb.GetRunRequest(run_id=found.id))
    _emit(found) if as_json else _print_run(found)


@app.command()
def metrics(
    run: RunArg,
    key: Annotated[list[str] | None, typer.Option("--key", "-k", help="Repeatable; default all.")] = None,
    max_points: Annotated[int, typer.Option("--max-points")] = 20,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Metric history, downsampled to --max-points per series (0: all)."""
    with cli_errors():
        reply = _session(data_dir, token).call(
            "GetMetricHistory", pb.GetMetricHistoryRequest(run_id=run, keys=key or [], max_points=max_points)
        )
    if as_json:
        _emit(reply)
        return
    for series in reply.series:
        shown = ", ".join(f"{p.step}:{p.value:.4g}" for p in series.points)
        console.print(f"[bold]{series.key}[/] ({series.total_points} points): {shown}", highlight=False)


@app.command()
def logs(
    run: RunArg,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the run ends.")] = False,
    after: Annotated[int, typer.Option("--after", help="Only lines after this sequence number.")] = 0,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
) -> None:
    """A run's log lines; --follow tails them live."""
    with cli_errors():
        session = _session(data_dir, token)
        request = pb.GetLogsRequest(run_id=run, after_seq=after)
        if follow:
            for line in session.stream("TailLogs", request, FOLLOW_TIMEOUT):
                typer.echo(line.text)
            return
        while True:
            reply = session.call("GetLogs", request)
            for line in reply.lines:
                typer.echo(line.text)
            if not reply.lines:
                return
            request = pb.GetLogsRequest(run_id=run, after_seq=reply.lines[-1].seq)


@app.command()
def artifacts(
    run: RunArg,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """A run's artifacts with their SHA-256."""
    with cli_errors():
        reply = _session(data_dir, token).call("ListArtifacts", pb.ListArtifactsRequest(run_id=run))
    if as_json:
        _emit(reply)
        return
    table = Table("name", "size", "sha256", "media type")
    for artifact in reply.artifacts:
        table.add_row(artifact.name, str(artifact.size_bytes), artifact.sha256, artifact.media_type)
    console.print(table)


@app.command()
def download(
    run: RunArg,
    name: Annotated[str, typer.Argument(help="Artifact name, e.g. bundle.zip.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Default: the artifact's name.")
    ] = None,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
) -> None:
    """Download an artifact and check its SHA-256."""
    import hashlib

    with cli_errors():
        session = _session(data_dir, token)
        listed = session.call("ListArtifacts", pb.ListArtifactsRequest(run_id=run))
        expected = next((a.sha256 for a in listed.artifacts if a.name == name), None)
        if expected is None:
            raise CliError(f"run {run} has no artifact {name!r}")
        target = output or Path(Path(name).name)
        digest = hashlib.sha256()
        size = 0
        partial = target.with_name(target.name + ".part")
        with partial.open("wb") as file:
            for chunk in session.stream(
                "DownloadArtifact", pb.DownloadArtifactRequest(run_id=run, name=name), LONG_TIMEOUT
            ):
                file.write(chunk.data)
                digest.update(chunk.data)
                size += len(chunk.data)
        if digest.hexdigest() != expected:
            partial.unlink()
            raise CliError(f"{name}: SHA-256 mismatch (expected {expected}); nothing written")
        partial.replace(target)
    console.print(f"Wrote {target} ({size} bytes, sha256 {expected})", highlight=False)


@app.command()
def compare(
    runs: Annotated[list[str], typer.Argument(help="Two or more run ids.")],
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Parameters side by side (differences marked) and final metric values."""
    with cli_errors():
        reply = _session(data_dir, token).call("CompareRuns", pb.CompareRunsRequest(run_ids=runs))
    if as_json:
        _emit(reply)
        return
    table = Table("parameter", *[r.name for r in reply.runs], "differs")
    for row in reply.parameters:
        table.add_row(row.name, *row.values, "*" if row.differs else "")
    console.print(table)
    metric_names = sorted({k for r in reply.runs for k in r.summary_metrics})
    summary = Table("metric", *[r.name for r in reply.runs])
    for metric in metric_names:
        summary.add_row(
            metric,
            *[f"{r.summary_metrics[metric]:.4f}" if metric in r.summary_metrics else "" for r in reply.runs],
        )
    console.print(summary)


@algorithms_app.command("list")
def list_algorithms(
    scenario: Annotated[str, typer.Option("--scenario", "-s")] = "",
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """The installed algorithms."""
    with cli_errors():
        request = pb.ListAlgorithmsRequest()
        if scenario:
            request.scenario = common_pb2.Scenario.Value("SCENARIO_" + scenario.upper())
        reply = _session(data_dir, token).call("ListAlgorithms", request)
    if as_json:
        _emit(reply)
        return
    table = Table("id", "version", "scenario", "title")
    for algorithm in reply.algorithms:
        scenario_name = common_pb2.Scenario.Name(algorithm.scenario).removeprefix("SCENARIO_").lower()
        table.add_row(algorithm.id, algorithm.version, scenario_name, algorithm.title)
    console.print(table)


@algorithms_app.command("show")
def show_algorithm(
    algorithm: Annotated[str, typer.Argument(help="Algorithm id.")],
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """An algorithm's parameters (with defaults and bounds) and presets."""
    with cli_errors():
        found = _session(data_dir, token).call("GetAlgorithm", pb.GetAlgorithmRequest(id=algorithm))
    if as_json:
        _emit(found)
        return
    console.print(f"[bold]{found.title}[/] ({found.id} {found.version})", highlight=False)
    console.print(found.description, highlight=False)
    schema = json_format.MessageToDict(found.parameter_schema)
    table = Table("parameter", "type", "default", "bounds", "description")
    for name, spec in schema.get("properties", {}).items():
        bounds = " ".join(
            f"{k}={spec[k]}" for k in ("minimum", "maximum", "exclusiveMinimum", "enum") if k in spec
        )
        table.add_row(
            name,
            str(spec.get("type", "")),
            json.dumps(spec.get("default")),
            bounds,
            spec.get("description", ""),
        )
    console.print(table)
    for preset, values in found.presets.items():
        console.print(f"preset {preset}: {json.dumps(json_format.MessageToDict(values))}", highlight=False)
