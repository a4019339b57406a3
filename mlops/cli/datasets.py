"""`mlops datasets ...`: datasets, samples and versions through the dataset service's gRPC API.

A DATASET argument is a dataset's id or its name.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from mlops.api.dataset.v1 import dataset_pb2 as pb
from mlops.cli import dataset_sample_commands, dataset_version_commands
from mlops.cli.client import (
    DEFAULT_DATA_DIR,
    DataDirOption,
    JsonOption,
    TokenOption,
    cli_errors,
    console,
    emit_message,
    message_document,
)
from mlops.cli.dataset_options import (
    LONG_TIMEOUT,
    DatasetArg,
    dataset_session,
    parse_scenario,
    print_dataset,
    print_version,
    scenario_name,
)

app = typer.Typer(no_args_is_help=True)


# --- datasets ---------------------------------------------------------------------------------------


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    scenario: Annotated[str, typer.Option("--scenario", "-s", help="e.g. image_classification.")],
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="Repeatable.")] = None,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an empty dataset for one scenario."""
    with cli_errors():
        request = pb.CreateDatasetRequest(
            name=name, scenario=parse_scenario(scenario), description=description, tags=tag or []
        )
        dataset = dataset_session(data_dir, token).call("CreateDataset", request)
    emit_message(dataset) if as_json else print_dataset(dataset)


@app.command("list")
def list_datasets(
    scenario: Annotated[str, typer.Option("--scenario", "-s")] = "",
    owner: Annotated[str, typer.Option("--owner")] = "",
    tag: Annotated[str, typer.Option("--tag", "-t")] = "",
    name: Annotated[str, typer.Option("--name", "-n", help="Part of the name.")] = "",
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List datasets, optionally filtered."""
    with cli_errors():
        request = pb.ListDatasetsRequest(
            scenario=parse_scenario(scenario) if scenario else None, owner=owner, tag=tag, name_contains=name
        )
        found: list[pb.Dataset] = list(
            dataset_session(data_dir, token).pages("ListDatasets", request, "datasets")
        )
    if as_json:
        typer.echo(json.dumps([message_document(d) for d in found]))
        return
    table = Table("name", "scenario", "owner", "draft", "latest", "tags", "id")
    for d in found:
        table.add_row(
            d.name,
            scenario_name(d.scenario),
            d.owner,
            str(d.draft_sample_count),
            f"v{d.latest_version}",
            ", ".join(d.tags),
            d.id,
        )
    console.print(table)


@app.command()
def show(
    dataset: DatasetArg,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one dataset."""
    with cli_errors():
        found = dataset_session(data_dir, token).dataset(dataset)
    emit_message(found) if as_json else print_dataset(found)


@app.command()
def update(
    dataset: DatasetArg,
    name: Annotated[str | None, typer.Option("--name")] = None,
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="Added; repeatable.")] = None,
    replace_tags: Annotated[bool, typer.Option("--replace-tags", help="The given tags replace all.")] = False,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Rename, describe or tag a dataset."""
    with cli_errors():
        session = dataset_session(data_dir, token)
        request = pb.UpdateDatasetRequest(
            dataset_id=session.dataset(dataset).id, tags=tag or [], replace_tags=replace_tags
        )
        if name is not None:
            request.name = name
        if description is not None:
            request.description = description
        updated = session.call("UpdateDataset", request)
    emit_message(updated) if as_json else print_dataset(updated)


@app.command()
def delete(
    dataset: DatasetArg, data_dir: DataDirOption = DEFAULT_DATA_DIR, token: TokenOption = None
) -> None:
    """Delete a dataset (refused while a run or model uses one of its versions)."""
    with cli_errors():
        session = dataset_session(data_dir, token)
        found = session.dataset(dataset)
        session.call("DeleteDataset", pb.DeleteDatasetRequest(dataset_id=found.id))
    console.print(f"Deleted dataset {found.name}.")


# --- retention and demo data ----------------------------------------------------------------------


@app.command()
def gc(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report only.")] = False,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
) -> None:
    """Remove blobs that no draft or version refers to any more (packs that are mostly such blobs are
    rewritten without them)."""
    with cli_errors():
        reply = dataset_session(data_dir, token).call(
            "CollectGarbage", pb.CollectGarbageRequest(dry_run=dry_run), timeout=LONG_TIMEOUT
        )
    verb = "Would remove" if dry_run else "Removed"
    rewritten = ""
    if reply.packs_rewritten:
        rewrite = "would rewrite" if dry_run else "rewrote"
        rewritten = f"; {rewrite} {reply.packs_rewritten} packs without them"
    console.print(f"{verb} {reply.blobs_removed} blobs ({reply.bytes_freed} bytes){rewritten}.")


@app.command()
def demo(
    scenario: Annotated[str, typer.Argument(help="e.g. image_classification.")],
    name: Annotated[str, typer.Option("--name", help="Default: the demo's own name.")] = "",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    publish_version: Annotated[bool, typer.Option("--publish", help="Also publish v1.")] = False,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Load a generated demo dataset for a scenario in one command."""
    with cli_errors():
        request = pb.LoadDemoDatasetRequest(
            scenario=parse_scenario(scenario), name=name, seed=seed, publish=publish_version
        )
        reply = dataset_session(data_dir, token).call("LoadDemoDataset", request, timeout=LONG_TIMEOUT)
    if as_json:
        emit_message(reply)
        return
    print_dataset(reply.dataset)
    if reply.HasField("version"):
        print_version(reply.version)


# The commands on samples and on versions live in modules of their own.
app.add_typer(dataset_sample_commands.app)
app.add_typer(dataset_version_commands.app)
