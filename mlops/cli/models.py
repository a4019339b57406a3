"""`mlops models ...`: models, versions, cards, stages, approvals, gates and rules (registry gRPC API).

A MODEL argument is a model's id or its name; a VERSION is a number, an alias ("champion") or a stage
name ("production").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from google.protobuf import json_format
from rich.table import Table

from mlops.api.common.v1 import common_pb2
from mlops.api.registry.v1 import registry_pb2 as pb
from mlops.api.registry.v1 import registry_pb2_grpc
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

CHUNK = 256 * 1024
UPLOAD_TIMEOUT = 3600.0
_GATE = re.compile(r"^\s*([A-Za-z0-9_.:/-]+)\s*(>=|<=|>|<)\s*([-+0-9.eE]+)\s*$")
_STAGES = {s.removeprefix("STAGE_").lower(): v for s, v in pb.Stage.items() if v}
_STATES = {s.removeprefix("APPROVAL_STATE_").lower(): v for s, v in pb.ApprovalState.items() if v}
_CARD_SEPARATOR = "## Risks (edit below)"
_CARD_HEADER = "## Intended use (edit below)"

ModelArg = Annotated[str, typer.Argument(help="Model id or name.")]
VersionArg = Annotated[str, typer.Argument(help="Version number, alias or stage name.")]


def _session(data_dir: Path, token: str | None) -> ServiceSession:
    return ServiceSession(connect(data_dir, token), "registry", registry_pb2_grpc.RegistryServiceStub)


_emit = emit_message


def _version_ref(model: str, version: str) -> pb.GetModelVersionRequest:
    if version.isdigit():
        return pb.GetModelVersionRequest(model=model, number=int(version))
    return pb.GetModelVersionRequest(model=model, alias=version)


def _number(session: ServiceSession, model: str, version: str) -> int:
    if version.isdigit():
        return int(version)
    return int(session.call("GetModelVersion", _version_ref(model, version)).number)


def _scenario(value: str) -> Any:
    key = "SCENARIO_" + value.strip().upper().replace("-", "_")
    if key not in common_pb2.Scenario.keys() or key == "SCENARIO_UNSPECIFIED":
        names = ", ".join(k.removeprefix("SCENARIO_").lower() for k in common_pb2.Scenario.keys()[1:])
        raise CliError(f"unknown scenario {value!r}; one of {names}")
    return common_pb2.Scenario.Value(key)


def _stage(value: str) -> Any:
    if value.lower() not in _STAGES:
        raise CliError(f"unknown stage {value!r}; one of {', '.join(_STAGES)}")
    return _STAGES[value.lower()]


def _stage_name(value: int) -> str:
    return pb.Stage.Name(value).removeprefix("STAGE_").lower()  # type: ignore[arg-type]


def _gate(text: str) -> pb.QualityGate:
    match = _GATE.match(text)
    if match is None:
        raise CliError(f"a gate looks like 'macro_f1>=0.85', not {text!r}")
    return pb.QualityGate(metric=match[1], comparator=match[2], threshold=float(match[3]))


def _signature(text: str) -> common_pb2.Signature:
    """JSON, or @path to a JSON file: {"inputs": [{"name", "datatype", "shape"}], "outputs": [...]}."""
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as exc:
            raise CliError(f"cannot read the signature file: {exc}") from None
    try:
        return json_format.ParseDict(json.loads(text), common_pb2.Signature())
    except (ValueError, json_format.ParseError) as exc:
        raise CliError(f"--signature is not a signature in JSON: {exc}") from None


def _print_model(model: pb.Model) -> None:
    scenario = common_pb2.Scenario.Name(model.scenario).removeprefix("SCENARIO_").lower()
    console.print(f"[bold]{model.name}[/] ({model.id})", highlight=False)
    console.print(f"  scenario: {scenario}   owner: {model.owner}   tags: {', '.join(model.tags) or '-'}")
    console.print(
        f"  latest version: v{model.latest_version}   production: v{model.production_version or '-'}"
    )
    gates = ", ".join(f"{g.metric} {g.comparator} {g.threshold:g}" for g in model.gates) or "-"
    console.print(f"  gates: {gates}", highlight=False)


def _print_version(version: pb.ModelVersion) -> None:
    aliases = f" ({', '.join(version.aliases)})" if version.aliases else ""
    console.print(
        f"[bold]{version.model_name} v{version.number}[/]{aliases} {_stage_name(version.stage)}",
        highlight=False,
    )
    lineage = version.lineage
    if lineage.external:
        console.print("  external upload: no training lineage")
    else:
        console.print(f"  run: {lineage.run_id}   data: {lineage.dataset_id} v{lineage.dataset_version}")
    console.print(f"  algorithm: {version.algorithm_id} {version.algorithm_version}", highlight=False)
    console.print(f"  bundle: {version.bundle.uri} sha256 {version.bundle.sha256}", highlight=False)
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in sorted(version.metrics.items())) or "-"
    console.print(f"  metrics: {metrics}", highlight=False)
    if version.deployed_as:
        console.print(f"  deployed as: {', '.join(version.deployed_as)}")


def _print_approval(approval: pb.Approval) -> None:
    state = pb.ApprovalState.Name(approval.state).removeprefix("APPROVAL_STATE_").lower()
    console.print(
        f"[bold]{approval.id}[/] {approval.model} v{approval.number} {state}: {approval.reason}",
        highlight=False,
    )
    console.print(f"  requested by {approval.requested_by}; decided by {approval.decided_by or '-'}")
    for outcome in approval.gate_outcomes:
        mark = "pass" if outcome.passed else "FAIL"
        console.print(f"  gate {mark}: {outcome.detail}", highlight=False)


# --- models -------------------------------------------------------------------------------------------


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="Model name.")],
    scenario: Annotated[str, typer.Option("--scenario", "-s")] = "",
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="Repeatable.")] = None,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a model: a named line of versions."""
    with cli_errors():
        request = pb.CreateModelRequest(
            name=name,
            description=description,
            scenario=_scenario(scenario) if scenario else None,
            tags=tag or [],
        )
        model = _session(data_dir, token).call("CreateModel", request)
    _emit(model) if as_json else _print_model(model)


@app.command("list")
def list_models(
    scenario: Annotated[str, typer.Option("--scenario", "-s")] = "",
    name: Annotated[str, typer.Option("--name", "-n", help="Part of the name.")] = "",
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List models."""
    with cli_errors():
        request = pb.ListModelsRequest(scenario=_scenario(scenario) if scenario else None, name_contains=name)
        found: list[pb.Model] = list(_session(data_dir, token).pages("ListModels", request, "models"))
    if as_json:
        _emit(pb.ListModelsResponse(models=found))
        return
    table = Table("name", "latest", "production", "owner", "tags")
    for model in found:
        table.add_row(
            model.name,
            f"v{model.latest_version}",
            f"v{model.production_version or '-'}",
            model.owner,
            ", ".join(model.tags),
        )
    console.print(table)


@app.command()
def show(
    model: ModelArg,
    version: Annotated[str | None, typer.Argument(help="A version to show instead of the model.")] = None,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a model, or one of its versions."""
    with cli_errors():
        session = _session(data_dir, token)
        if version is None:
            found = session.call("GetModel", pb.GetModelRequest(model=model))
        else:
            found = session.call("GetModelVersion", _version_ref(model, version))
    if as_json:
        _emit(found)
    elif version is None:
        _print_model(found)
    else:
        _print_version(found)


@app.command()
def versions(
    model: ModelArg,
    stage: Annotated[str, typer.Option("--stage")] = "",
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List a model's versions, newest first."""
    with cli_errors():
        request = pb.ListModelVersionsRequest(model=model, stage=_stage(stage) if stage else None)
        found: list[pb.ModelVersion] = list(
            _session(data_dir, token).pages("ListModelVersions", request, "versions")
        )
    if as_json:
        _emit(pb.ListModelVersionsResponse(versions=found))
        return
    table = Table("version", "stage", "aliases", "source", "metrics")
    for v in found:
        source = "external" if v.lineage.external else f"run {v.lineage.run_id[:12]}"
        metrics = ", ".join(f"{k} {x:.4g}" for k, x in sorted(v.metrics.items()))
        table.add_row(f"v{v.number}", _stage_name(v.stage), ", ".join(v.aliases), source, metrics)
    console.print(table)


# --- registering --------------------------------------------------------------------------------------


@app.command()
def register(
    model: ModelArg,
    run: Annotated[str, typer.Option("--run", help="The succeeded training run to register.")],
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a succeeded run's model bundle as a new version (again for the same run: the same version)."""
    with cli_errors():
        version = _session(data_dir, token).call(
            "RegisterFromRun", pb.RegisterFromRunRequest(model=model, run_id=run)
        )
    _emit(version) if as_json else _print_version(version)


def _upload_parts(model: str, path: Path, signature: common_pb2.Signature, description: str) -> Iterator[Any]:
    declaration = pb.ExternalModelDeclaration(
        model=model, signature=signature, file_name=path.name, description=description
    )
    yield pb.UploadExternalModelRequest(declaration=declaration)
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            yield pb.UploadExternalModelRequest(chunk=chunk)


@app.command()
def upload(
    model: ModelArg,
    file: Annotated[Path, typer.Argument(help="An ONNX file.", exists=True, dir_okay=False)],
    signature: Annotated[str, typer.Option("--signature", help="Signature JSON, or @file.json.")],
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Upload an outside ONNX model; it is checked (format, onnxruntime, signature) before it is kept."""
    with cli_errors():
        declared = _signature(signature)
        session = _session(data_dir, token)
        version = session.call(
            "UploadExternalModel", _upload_parts(model, file, declared, description), timeout=UPLOAD_TIMEOUT
        )
    _emit(version) if as_json else _print_version(version)


@app.command()
def delete(
    model: ModelArg,
    version: VersionArg,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
) -> None:
    """Delete a version (refused while it is in production or deployed)."""
    with cli_errors():
        _session(data_dir, token).call("DeleteModelVersion", _version_ref(model, version))
    console.print(f"Deleted {model} {version}.")


# --- cards --------------------------------------------------------------------------------------------


def _edited(card: pb.ModelCard) -> tuple[str, str]:
    template = f"{_CARD_HEADER}\n{card.intended_use}\n\n{_CARD_SEPARATOR}\n{card.risks}\n"
    text = click.edit(template, extension=".md")
    if text is None:
        raise CliError("the card was not changed")
    if _CARD_SEPARATOR not in text:
        raise CliError(f"keep the line {_CARD_SEPARATOR!r} in the card")
    intended, risks = text.split(_CARD_SEPARATOR, 1)
    return intended.replace(_CARD_HEADER, "", 1).strip(), risks.strip()


@app.command()
def card(
    model: ModelArg,
    version: VersionArg,
    edit: Annotated[bool, typer.Option("--edit", help="Edit intended use and risks in $EDITOR.")] = False,
    intended_use: Annotated[str | None, typer.Option("--intended-use")] = None,
    risks: Annotated[str | None, typer.Option("--risks")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the Markdown here.")] = None,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
) -> None:
    """Show (or write, or edit) a version's model card as Markdown."""
    with cli_errors():
        session = _session(data_dir, token)
        number = _number(session, model, version)
        current = session.call("GetModelCard", pb.GetModelVersionRequest(model=model, number=number))
        if edit:
            intended_use, risks = _edited(current)
        if intended_use is not None or risks is not None:
            request = pb.UpdateModelCardRequest(model=model, number=number)
            if intended_use is not None:
                request.intended_use = intended_use
            if risks is not None:
                request.risks = risks
            current = session.call("UpdateModelCard", request)
    if output is not None:
        output.write_text(current.markdown)
        console.print(f"Wrote {output}")
    else:
        typer.echo(current.markdown)


# --- stages, aliases, approvals -----------------------------------------------------------------------


@app.command()
def stage(
    model: ModelArg,
    version: VersionArg,
    target: Annotated[str, typer.Argument(help="none, staging, production or archived.")],
    approval: Annotated[str, typer.Option("--approval", help="An approved request (production).")] = "",
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move a version to another stage; production needs an approved approval."""
    with cli_errors():
        session = _session(data_dir, token)
        request = pb.TransitionStageRequest(
            model=model, number=_number(session, model, version), stage=_stage(target), approval_id=approval
        )
        moved = session.call("TransitionStage", request)
    _emit(moved) if as_json else _print_version(moved)


@app.command()
def alias(
    model: ModelArg,
    version: VersionArg,
    name: Annotated[str, typer.Argument(help="The alias, e.g. champion.")],
    remove: Annotated[bool, typer.Option("--remove")] = False,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
) -> None:
    """Point an alias at a version (moving it off any other), or remove it."""
    with cli_errors():
        session = _session(data_dir, token)
        request = pb.SetAliasRequest(
            model=model, number=_number(session, model, version), alias=name, remove=remove
        )
        _print_version(session.call("SetAlias", request))


@app.command("request-approval")
def request_approval(
    model: ModelArg,
    version: VersionArg,
    reason: Annotated[str, typer.Option("--reason", "-r")],
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ask for a version's promotion to production; the model's quality gates are checked now."""
    with cli_errors():
        session = _session(data_dir, token)
        request = pb.RequestApprovalRequest(
            model=model, number=_number(session, model, version), reason=reason
        )
        approval = session.call("RequestApproval", request)
    _emit(approval) if as_json else _print_approval(approval)


def _decide(approval_id: str, approve: bool, comment: str, data_dir: Path, token: str | None) -> None:
    with cli_errors():
        request = pb.DecideApprovalRequest(approval_id=approval_id, approve=approve, comment=comment)
        _print_approval(_session(data_dir, token).call("DecideApproval", request))


@app.command()
def approve(
    approval_id: Annotated[str, typer.Argument()],
    comment: Annotated[str, typer.Option("--comment", "-c")] = "",
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
) -> None:
    """Approve someone else's request (mlops-engineer)."""
    _decide(approval_id, True, comment, data_dir, token)


@app.command()
def reject(
    approval_id: Annotated[str, typer.Argument()],
    comment: Annotated[str, typer.Option("--comment", "-c")] = "",
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
) -> None:
    """Reject a request (mlops-engineer)."""
    _decide(approval_id, False, comment, data_dir, token)


@app.command()
def approvals(
    model: Annotated[str, typer.Argument(help="Model id or name; all models when left out.")] = "",
    state: Annotated[str, typer.Option("--state", help="pending, approved or rejected.")] = "",
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List approval requests."""
    with cli_errors():
        if state and state not in _STATES:
            raise CliError(f"unknown state {state!r}; one of {', '.join(_STATES)}")
        reply = _session(data_dir, token).call(
            "ListApprovals", pb.ListApprovalsRequest(model=model, state=_STATES.get(state))
        )
    if as_json:
        _emit(reply)
        return
    for found in reply.approvals:
        _print_approval(found)


@app.command()
def gates(
    model: ModelArg,
    set_gates: Annotated[
        list[str] | None, typer.Option("--set", help="'metric>=threshold', repeatable; replaces all gates.")
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove every gate.")] = False,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
) -> None:
    """Show or set a model's quality gates."""
    with cli_errors():
        session = _session(data_dir, token)
        if set_gates or clear:
            request = pb.SetQualityGatesRequest(model=model, gates=[_gate(g) for g in set_gates or []])
            found = session.call("SetQualityGates", request)
        else:
            found = session.call("GetModel", pb.GetModelRequest(model=model))
        _print_model(found)


@app.command()
def rules(
    model: ModelArg,
    dataset: Annotated[str, typer.Option("--dataset", help="Add a rule watching this dataset's runs.")] = "",
    algorithm: Annotated[str, typer.Option("--algorithm")] = "",
    metric: Annotated[str, typer.Option("--metric", help="The metric to beat production on.")] = "",
    lower_is_better: Annotated[bool, typer.Option("--lower-is-better")] = False,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
) -> None:
    """List a model's automation rules, or add one (--dataset, --algorithm, --metric)."""
    with cli_errors():
        session = _session(data_dir, token)
        if dataset or algorithm or metric:
            rule = pb.AutomationRule(
                model=model,
                dataset_id=dataset,
                algorithm_id=algorithm,
                compare_metric=metric,
                higher_is_better=not lower_is_better,
            )
            session.call("CreateAutomationRule", pb.CreateAutomationRuleRequest(rule=rule))
        reply = session.call("ListAutomationRules", pb.ListAutomationRulesRequest(model=model))
    table = Table("rule", "dataset", "algorithm", "beats production on", "by")
    for found in reply.rules:
        direction = "higher" if found.higher_is_better else "lower"
        table.add_row(
            found.id,
            found.dataset_id,
            found.algorithm_id,
            f"{found.compare_metric} ({direction})",
            found.created_by,
        )
    console.print(table)


@app.command()
def compare(
    model: ModelArg,
    before: VersionArg,
    after: VersionArg,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare two versions: parameters, metrics and data."""
    with cli_errors():
        session = _session(data_dir, token)
        request = pb.CompareModelVersionsRequest(
            model=model, from_number=_number(session, model, before), to_number=_number(session, model, after)
        )
        reply = session.call("CompareModelVersions", request)
    if as_json:
        _emit(reply)
        return
    for title, rows in (("parameters", reply.parameters), ("metrics", reply.metrics), ("data", reply.data)):
        table = Table(title, f"v{request.from_number}", f"v{request.to_number}", title=title)
        for row in rows:
            table.add_row(row.name, row.from_value, row.to_value)
        console.print(table)


@app.command()
def lineage(
    model: Annotated[str, typer.Option("--model", "-m")] = "",
    version: Annotated[str, typer.Option("--version", "-v")] = "",
    dataset: Annotated[str, typer.Option("--dataset", help="A dataset id, with --dataset-version.")] = "",
    dataset_version: Annotated[int, typer.Option("--dataset-version")] = 0,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Lineage from a model version back to its data, or from a dataset version to what used it."""
    with cli_errors():
        if model and version:
            request = pb.GetLineageRequest(model_version=_version_ref(model, version))
        elif dataset and dataset_version:
            request = pb.GetLineageRequest(
                dataset_version=pb.DatasetRef(dataset_id=dataset, number=dataset_version)
            )
        else:
            raise CliError("name --model and --version, or --dataset and --dataset-version")
        reply = _session(data_dir, token).call("GetLineage", request)
    if as_json:
        _emit(reply)
        return
    labels = {node.id: f"{node.kind} {node.label}" for node in reply.nodes}
    for edge in reply.edges:
        console.print(
            f"{labels.get(edge.from_id, edge.from_id)} -> {labels.get(edge.to_id, edge.to_id)}",
            highlight=False,
        )
