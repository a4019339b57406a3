"""`mlops datasets ...`: datasets, samples and versions through the dataset service's gRPC API.

A DATASET argument is a dataset's id or its name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table

from mlops.api.common.v1 import common_pb2
from mlops.api.dataset.v1 import dataset_pb2 as pb
from mlops.api.dataset.v1 import dataset_pb2_grpc
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
from mlops.cli.dataset_download import S3Unreachable, download_direct
from mlops.cli.dataset_samples import (
    annotation_from_options,
    annotation_text,
    find_sample,
    metadata_from_options,
    metadata_of,
    print_sample,
)
from mlops.cli.dataset_stream import download_through_service
from mlops.cli.dataset_upload import FORMATS, collect_files, plan_upload, upload_parts
from mlops.datasets.checksum import Verification

app = typer.Typer(no_args_is_help=True)

LONG_TIMEOUT = 3600.0
_PURPOSES = {
    "training": pb.PURPOSE_TRAINING,
    "validation": pb.PURPOSE_VALIDATION,
    "testing": pb.PURPOSE_TESTING,
}
_ARCHIVES = {"tar.gz": pb.ARCHIVE_FORMAT_TAR_GZ, "zip": pb.ARCHIVE_FORMAT_ZIP}

DatasetArg = Annotated[str, typer.Argument(help="Dataset id or name.")]
VersionArg = Annotated[int, typer.Argument(help="Version number.")]
SampleArg = Annotated[str, typer.Argument(help="A draft sample's id, or a sample's name.")]
SampleIdsOption = Annotated[list[str] | None, typer.Option("--id", help="Only this sample id (repeatable).")]
UnlabeledOption = Annotated[bool, typer.Option("--unlabeled", help="Only samples without annotation.")]
ClearAnnotationOption = Annotated[
    bool, typer.Option("--clear-annotation", help="Remove the annotation (label, target or boxes).")
]
MetadataOption = Annotated[
    list[str] | None, typer.Option("--metadata", help="KEY=VALUE, VALUE a string; repeatable.")
]


def _session(data_dir: Path, token: str | None) -> ServiceSession:
    return ServiceSession(connect(data_dir, token), "dataset", dataset_pb2_grpc.DatasetServiceStub)


_emit = emit_message


def _scenario(value: str) -> Any:  # the stubs type enums as their own classes
    key = "SCENARIO_" + value.strip().upper().replace("-", "_")
    if key not in common_pb2.Scenario.keys() or key == "SCENARIO_UNSPECIFIED":
        names = ", ".join(k.removeprefix("SCENARIO_").lower() for k in common_pb2.Scenario.keys()[1:])
        raise CliError(f"unknown scenario {value!r}; one of {names}")
    return common_pb2.Scenario.Value(key)


def _scenario_name(value: int) -> str:
    return common_pb2.Scenario.Name(value).removeprefix("SCENARIO_").lower()  # type: ignore[arg-type]


def _purpose(value: str | None) -> Any:
    if not value:
        return pb.PURPOSE_UNSPECIFIED
    key = {"train": "training", "val": "validation", "test": "testing"}.get(value.lower(), value.lower())
    if key not in _PURPOSES:
        raise CliError(f"unknown purpose {value!r}; one of training, validation, testing")
    return _PURPOSES[key]


def _purpose_name(value: int) -> str:
    return pb.Purpose.Name(value).removeprefix("PURPOSE_").lower()  # type: ignore[arg-type]


def _counts(counts: Any) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-"


def _print_dataset(dataset: pb.Dataset) -> None:
    console.print(f"[bold]{dataset.name}[/] ({dataset.id})", highlight=False)
    console.print(f"  scenario: {_scenario_name(dataset.scenario)}   owner: {dataset.owner}", highlight=False)
    console.print(f"  tags: {', '.join(dataset.tags) or '-'}   description: {dataset.description or '-'}")
    console.print(
        f"  draft samples: {dataset.draft_sample_count}   latest version: v{dataset.latest_version}"
    )


def _print_version(version: pb.DatasetVersion) -> None:
    state = "archived" if version.state == pb.VERSION_STATE_ARCHIVED else "published"
    console.print(f"[bold]v{version.number}[/] {state} by {version.author}: {version.message or '-'}")
    console.print(
        f"  samples: {version.sample_count} ({version.total_bytes} bytes)  digest: {version.manifest_digest}"
    )
    console.print(f"  purposes: {_counts(version.counts_per_purpose)}")
    console.print(f"  labels: {_counts(version.counts_per_label)}")
    if version.used_by:
        console.print(f"  used by: {', '.join(version.used_by)}")


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
            name=name, scenario=_scenario(scenario), description=description, tags=tag or []
        )
        dataset = _session(data_dir, token).call("CreateDataset", request)
    _emit(dataset) if as_json else _print_dataset(dataset)


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
            scenario=_scenario(scenario) if scenario else None, owner=owner, tag=tag, name_contains=name
        )
        found: list[pb.Dataset] = list(_session(data_dir, token).pages("ListDatasets", request, "datasets"))
    if as_json:
        typer.echo(json.dumps([message_document(d) for d in found]))
        return
    table = Table("name", "scenario", "owner", "draft", "latest", "tags", "id")
    for d in found:
        table.add_row(
            d.name,
            _scenario_name(d.scenario),
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
        found = _session(data_dir, token).dataset(dataset)
    _emit(found) if as_json else _print_dataset(found)


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
        session = _session(data_dir, token)
        request = pb.UpdateDatasetRequest(
            dataset_id=session.dataset(dataset).id, tags=tag or [], replace_tags=replace_tags
        )
        if name is not None:
            request.name = name
        if description is not None:
            request.description = description
        updated = session.call("UpdateDataset", request)
    _emit(updated) if as_json else _print_dataset(updated)


@app.command()
def delete(
    dataset: DatasetArg, data_dir: DataDirOption = DEFAULT_DATA_DIR, token: TokenOption = None
) -> None:
    """Delete a dataset (refused while a run or model uses one of its versions)."""
    with cli_errors():
        session = _session(data_dir, token)
        found = session.dataset(dataset)
        session.call("DeleteDataset", pb.DeleteDatasetRequest(dataset_id=found.id))
    console.print(f"Deleted dataset {found.name}.")


# --- samples ----------------------------------------------------------------------------------------


@app.command()
def upload(
    dataset: DatasetArg,
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Files or directories to upload (all or nothing). A directory's files (hidden ones "
            "aside) are named by their path relative to it, e.g. cat/1.png.",
            exists=True,
        ),
    ],
    file_format: Annotated[
        str,
        typer.Option(
            "--format", "-f", help=f"{', '.join(FORMATS)}; default: from each file's name and the scenario."
        ),
    ] = "",
    purpose: Annotated[str, typer.Option("--purpose", "-p", help="Default purpose.")] = "",
    label: Annotated[str, typer.Option("--label", "-l", help="Default class label.")] = "",
    label_from_folder: Annotated[
        bool,
        typer.Option(
            "--label-from-folder", help="Label each file by the first folder of its name (ImageFolder)."
        ),
    ] = False,
    relative_to: Annotated[
        Path | None,
        typer.Option(
            "--relative-to",
            help="Name every file by its path relative to this directory (default: a file argument by "
            "its base name, a directory's files relative to that directory).",
            exists=True,
            file_okay=False,
        ),
    ] = None,
    metadata: MetadataOption = None,
    metadata_json: Annotated[
        str | None, typer.Option("--metadata-json", help="Metadata for every sample, a JSON object.")
    ] = None,
    media_type: Annotated[str, typer.Option("--media-type")] = "",
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Replace draft samples of the same name instead of refusing."),
    ] = False,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Upload files, or directories' files, as samples in one request, with a progress bar.

    For object detection a bare COCO .json adds no samples: it sets the boxes of the samples (already
    in the draft, or uploaded beside it) that its images name by file_name."""
    with cli_errors():
        if file_format and file_format not in FORMATS:
            raise CliError(f"unknown format {file_format!r}; one of {', '.join(FORMATS)}")
        header = {
            "purpose": _purpose(purpose),
            "media_type": media_type,
            "replace": replace,
            "metadata": metadata_from_options(metadata, metadata_json),
        }
        found = collect_files(files, relative_to)
        session = _session(data_dir, token)
        target = session.dataset(dataset)
        planned = plan_upload(
            found, target.scenario, file_format=file_format, label=label, label_from_folder=label_from_folder
        )
        columns = (*Progress.get_default_columns()[:1], BarColumn(), DownloadColumn(), TransferSpeedColumn())
        with Progress(*columns, console=console, transient=True, disable=as_json) as progress:
            reply = session.stub.UploadSamples(
                upload_parts(target.id, planned, header, progress),
                metadata=session.metadata,
                timeout=LONG_TIMEOUT,
            )
    if as_json:
        _emit(reply)
        return
    replaced = f", {reply.samples_replaced} of them replacing samples" if reply.samples_replaced else ""
    console.print(
        f"Added {reply.samples_added} samples to {target.name}{replaced} "
        f"({reply.bytes_received} bytes received, {reply.new_blobs} new blobs)."
    )
    if reply.samples_annotated:
        console.print(f"Annotated {reply.samples_annotated} samples.")


@app.command()
def samples(
    dataset: DatasetArg,
    version: Annotated[int, typer.Option("--version", "-v", help="0: the draft.")] = 0,
    purpose: Annotated[str, typer.Option("--purpose", "-p")] = "",
    label: Annotated[str, typer.Option("--label", "-l")] = "",
    prefix: Annotated[str, typer.Option("--prefix")] = "",
    unlabeled: UnlabeledOption = False,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Samples per page (without --all: the one page shown).")
    ] = 50,
    every_page: Annotated[
        bool, typer.Option("--all", "-a", help="Every matching sample, page by page.")
    ] = False,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List a draft's or a version's samples."""
    with cli_errors():
        session = _session(data_dir, token)
        target = session.dataset(dataset)
        request = pb.ListSamplesRequest(
            dataset_id=target.id,
            version=version,
            filter=pb.SampleFilter(
                purpose=_purpose(purpose), label=label, name_prefix=prefix, unlabeled_only=unlabeled
            ),
            page=common_pb2.PageRequest(page_size=limit),
        )
        if every_page:
            found = list(session.pages("ListSamples", request, "samples", page_size=limit))
            reply = pb.ListSamplesResponse(samples=found, page=common_pb2.PageResponse(total_size=len(found)))
        else:
            reply = session.call("ListSamples", request)
    if as_json:
        _emit(reply)
        return
    table = Table("name", "purpose", "annotation", "size", "sha256", "id")
    for s in reply.samples:
        table.add_row(
            s.name,
            _purpose_name(s.purpose),
            annotation_text(s.annotation, compact=True),
            str(s.size_bytes),
            s.content_sha256[:12],
            s.id,
        )
    console.print(table)
    console.print(f"{len(reply.samples)} of {reply.page.total_size} samples")


@app.command()
def sample(
    dataset: DatasetArg,
    sample_ref: SampleArg,
    version: Annotated[
        int, typer.Option("--version", "-v", help="0: the draft; in a version, give the sample's name.")
    ] = 0,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one sample: annotation, purpose, content hash, size and metadata."""
    with cli_errors():
        session = _session(data_dir, token)
        found = find_sample(session, session.dataset(dataset).id, sample_ref, version)
    _emit(found) if as_json else print_sample(found, _purpose_name(found.purpose), version)


@app.command("update-sample")
def update_sample(
    dataset: DatasetArg,
    sample_ref: SampleArg,
    purpose: Annotated[str, typer.Option("--purpose", "-p", help="training, validation or testing.")] = "",
    label: Annotated[str, typer.Option("--label", "-l", help="Set the class label.")] = "",
    target: Annotated[float | None, typer.Option("--target", help="Set the numeric target.")] = None,
    box: Annotated[
        list[str] | None,
        typer.Option(
            "--box",
            help="Set the boxes, each LABEL:X,Y,W,H in pixels (top-left corner, width, height); repeatable.",
        ),
    ] = None,
    clear_annotation: ClearAnnotationOption = False,
    metadata: Annotated[
        list[str] | None,
        typer.Option(
            "--metadata", help="KEY=VALUE: set KEY to the string VALUE, keep the others; repeatable."
        ),
    ] = None,
    metadata_json: Annotated[
        str | None, typer.Option("--metadata-json", help="Replace all metadata with this JSON object.")
    ] = None,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change one draft sample's purpose, annotation and/or metadata."""
    with cli_errors():
        annotation = annotation_from_options(
            label=label,
            target=target,
            boxes=box,
            clear=clear_annotation,
            names=("--label", "--target", "--box"),
        )
        if not purpose and annotation is None and not metadata and metadata_json is None:
            raise CliError(
                "nothing to change: pass --purpose, --label, --target, --box, --clear-annotation, "
                "--metadata or --metadata-json"
            )
        session = _session(data_dir, token)
        dataset_id = session.dataset(dataset).id
        current = find_sample(session, dataset_id, sample_ref)
        request = pb.UpdateSampleRequest(dataset_id=dataset_id, sample_id=current.id)
        if purpose:
            request.purpose = _purpose(purpose)
        if annotation is not None and annotation.WhichOneof("value") is None:
            request.clear_annotation = True
        elif annotation is not None:
            request.annotation.CopyFrom(annotation)
        # The service replaces the metadata whole: keys not named here are sent back as they are.
        changed = metadata_from_options(metadata, metadata_json, base=metadata_of(current))
        if changed is not None:
            request.metadata.update(changed)
            request.metadata.SetInParent()
        updated = session.call("UpdateSample", request)
    _emit(updated) if as_json else print_sample(updated, _purpose_name(updated.purpose))


@app.command("delete-samples")
def delete_samples(
    dataset: DatasetArg,
    sample_ids: SampleIdsOption = None,
    purpose: Annotated[str, typer.Option("--purpose", help="Only samples of this purpose.")] = "",
    label: Annotated[str, typer.Option("--label", help="Only samples with this label.")] = "",
    prefix: Annotated[str, typer.Option("--prefix", help="Only names starting so.")] = "",
    unlabeled: UnlabeledOption = False,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
) -> None:
    """Delete every draft sample the filter matches, at once (at least one criterion)."""
    with cli_errors():
        session = _session(data_dir, token)
        selection = pb.SampleFilter(
            purpose=_purpose(purpose),
            label=label,
            name_prefix=prefix,
            sample_ids=sample_ids or [],
            unlabeled_only=unlabeled,
        )
        reply = session.call(
            "DeleteSamples", pb.DeleteSamplesRequest(dataset_id=session.dataset(dataset).id, filter=selection)
        )
    console.print(f"Deleted {reply.samples_deleted} samples.")


@app.command()
def relabel(
    dataset: DatasetArg,
    sample_ids: SampleIdsOption = None,
    purpose: Annotated[str, typer.Option("--purpose", help="Only samples of this purpose.")] = "",
    label: Annotated[str, typer.Option("--label", help="Only samples with this label.")] = "",
    prefix: Annotated[str, typer.Option("--prefix", help="Only names starting so.")] = "",
    unlabeled: UnlabeledOption = False,
    set_purpose: Annotated[str, typer.Option("--set-purpose")] = "",
    set_label: Annotated[str, typer.Option("--set-label")] = "",
    set_target: Annotated[float | None, typer.Option("--set-target", help="A numeric target.")] = None,
    set_box: Annotated[
        list[str] | None,
        typer.Option(
            "--set-box",
            help="The boxes, each LABEL:X,Y,W,H in pixels (top-left corner, width, height); repeatable.",
        ),
    ] = None,
    clear_annotation: ClearAnnotationOption = False,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
) -> None:
    """Set the purpose and/or annotation of every draft sample the filter matches (no filter: all)."""
    with cli_errors():
        annotation = annotation_from_options(
            label=set_label,
            target=set_target,
            boxes=set_box,
            clear=clear_annotation,
            names=("--set-label", "--set-target", "--set-box"),
        )
        if not set_purpose and annotation is None:
            raise CliError(
                "nothing to set: pass --set-purpose, --set-label, --set-target, --set-box "
                "or --clear-annotation"
            )
        session = _session(data_dir, token)
        request = pb.RelabelSamplesRequest(
            dataset_id=session.dataset(dataset).id,
            filter=pb.SampleFilter(
                purpose=_purpose(purpose),
                label=label,
                name_prefix=prefix,
                sample_ids=sample_ids or [],
                unlabeled_only=unlabeled,
            ),
            set_purpose=_purpose(set_purpose),
            # Present but empty (--clear-annotation) clears; absent keeps annotations.
            set_annotation=annotation,
        )
        reply = session.call("RelabelSamples", request)
    console.print(f"Changed {reply.samples_changed} samples.")


@app.command()
def split(
    dataset: DatasetArg,
    ratios: Annotated[str, typer.Option("--ratios", help="training,validation,testing")] = "0.7,0.15,0.15",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
) -> None:
    """Assign purposes by ratios (stratified by label; chronological for time series)."""
    with cli_errors():
        try:
            training, validation, testing = (float(r) for r in ratios.split(","))
        except ValueError:
            raise CliError(f"--ratios {ratios!r}: three numbers, e.g. 0.7,0.15,0.15") from None
        session = _session(data_dir, token)
        reply = session.call(
            "SplitSamples",
            pb.SplitSamplesRequest(
                dataset_id=session.dataset(dataset).id,
                training_ratio=training,
                validation_ratio=validation,
                testing_ratio=testing,
                seed=seed,
            ),
        )
    console.print(f"Split ({reply.strategy}): {_counts(reply.counts_per_purpose)}")


# --- versions ---------------------------------------------------------------------------------------


@app.command()
def publish(
    dataset: DatasetArg,
    message: Annotated[str, typer.Option("--message", "-m")] = "",
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Freeze the draft into the next immutable version."""
    with cli_errors():
        session = _session(data_dir, token)
        request = pb.PublishVersionRequest(dataset_id=session.dataset(dataset).id, message=message)
        version = session.call("PublishVersion", request, timeout=LONG_TIMEOUT)
    _emit(version) if as_json else _print_version(version)


@app.command()
def versions(
    dataset: DatasetArg,
    include_archived: Annotated[bool, typer.Option("--all", "-a", help="Include archived versions.")] = False,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List a dataset's versions (every page)."""
    with cli_errors():
        session = _session(data_dir, token)
        request = pb.ListVersionsRequest(
            dataset_id=session.dataset(dataset).id, include_archived=include_archived
        )
        found = list(session.pages("ListVersions", request, "versions"))
        reply = pb.ListVersionsResponse(versions=found, page=common_pb2.PageResponse(total_size=len(found)))
    if as_json:
        _emit(reply)
        return
    table = Table("version", "state", "samples", "purposes", "author", "message", "used by")
    for v in reply.versions:
        state = "archived" if v.state == pb.VERSION_STATE_ARCHIVED else "published"
        table.add_row(
            f"v{v.number}",
            state,
            str(v.sample_count),
            _counts(v.counts_per_purpose),
            v.author,
            v.message,
            ", ".join(v.used_by),
        )
    console.print(table)


@app.command("version")
def show_version(
    dataset: DatasetArg,
    number: VersionArg,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one version: digest, counts per purpose and per label, author, message and users."""
    with cli_errors():
        session = _session(data_dir, token)
        request = pb.GetVersionRequest(dataset_id=session.dataset(dataset).id, number=number)
        version = session.call("GetVersion", request)
    _emit(version) if as_json else _print_version(version)


@app.command()
def diff(
    dataset: DatasetArg,
    from_number: Annotated[int, typer.Argument(help="Older version (0: the draft).")],
    to_number: Annotated[int, typer.Argument(help="Newer version (0: the draft).")],
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Added, removed and changed samples between two versions."""
    with cli_errors():
        session = _session(data_dir, token)
        reply = session.call(
            "DiffVersions",
            pb.DiffVersionsRequest(
                dataset_id=session.dataset(dataset).id, from_number=from_number, to_number=to_number
            ),
        )
    if as_json:
        _emit(reply)
        return
    for sign, changes in (("+", reply.added), ("-", reply.removed), ("~", reply.changed)):
        for change in changes:
            console.print(f"{sign} {change.name}", highlight=False)
    console.print(
        f"{len(reply.added)} added, {len(reply.removed)} removed, {len(reply.changed)} changed "
        f"({reply.label_moves} label moves, {reply.purpose_moves} purpose moves)"
    )


@app.command()
def archive(
    dataset: DatasetArg,
    number: VersionArg,
    undo: Annotated[bool, typer.Option("--undo", help="Unarchive.")] = False,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
) -> None:
    """Hide a version from pickers (kept whole); --undo shows it again."""
    with cli_errors():
        session = _session(data_dir, token)
        request = pb.ArchiveVersionRequest(dataset_id=session.dataset(dataset).id, number=number)
        version = session.call("UnarchiveVersion" if undo else "ArchiveVersion", request)
    _print_version(version)


@app.command()
def restore(
    dataset: DatasetArg,
    number: VersionArg,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
) -> None:
    """Make the draft exactly a version's content."""
    with cli_errors():
        session = _session(data_dir, token)
        reply = session.call(
            "RestoreVersion", pb.RestoreVersionRequest(dataset_id=session.dataset(dataset).id, number=number)
        )
    console.print(f"The draft now holds v{number}'s {reply.draft_sample_count} samples.")


@app.command("delete-version")
def delete_version(
    dataset: DatasetArg,
    number: VersionArg,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
) -> None:
    """Purge a version (refused while a run or model uses it)."""
    with cli_errors():
        session = _session(data_dir, token)
        session.call(
            "DeleteVersion", pb.DeleteVersionRequest(dataset_id=session.dataset(dataset).id, number=number)
        )
    console.print(f"Deleted v{number}.")


@app.command()
def download(
    dataset: DatasetArg,
    number: VersionArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="Archive file to write.")],
    archive_format: Annotated[str, typer.Option("--format", help="tar.gz or zip.")] = "tar.gz",
    direct: Annotated[
        bool | None,
        typer.Option(
            "--direct/--through-service",
            help="--direct: read the blobs straight from S3 with URLs the service signs and build the "
            "archive here (faster); --through-service: the service streams the archive. Neither: "
            "direct, or through the service when S3 is not reachable from this machine.",
        ),
    ] = None,
    verify: Annotated[
        Verification | None,
        typer.Option(
            "--verify",
            help="Reading from S3: check each blob against the CRC-32 recorded at upload (crc32, the "
            "default; SHA-256 for blobs stored before CRCs were) or always its SHA-256 (sha256: "
            "also catches deliberate substitution, at more CPU).",
        ),
    ] = None,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
) -> None:
    """Download a version as an archive with its manifest.json, with a progress bar."""
    with cli_errors():
        if archive_format not in _ARCHIVES:
            raise CliError(f"--format {archive_format!r}: tar.gz or zip")
        if verify is not None and direct is False:
            raise CliError("--verify applies to reads from S3 (the service checks what it streams)")
        session = _session(data_dir, token)
        target = session.dataset(dataset)
        version = session.call("GetVersion", pb.GetVersionRequest(dataset_id=target.id, number=number))
        if direct is not False:
            try:
                written = download_direct(
                    session,
                    target.id,
                    number,
                    archive_format,
                    output,
                    version.total_bytes,
                    verify or Verification.CRC32,
                )
            except S3Unreachable as unreachable:
                if direct:
                    raise
                console.print(f"[dim]{unreachable}: the dataset service streams the archive instead[/dim]")
            else:
                console.print(f"Wrote {output} ({written} bytes, {version.sample_count} samples).")
                return
        request = pb.DownloadVersionRequest(
            dataset_id=target.id, number=number, format=_ARCHIVES[archive_format]
        )
        written = download_through_service(
            session.platform.endpoint("dataset"),
            request,
            session.metadata,
            output,
            version.total_bytes,
            LONG_TIMEOUT,
        )
    console.print(f"Wrote {output} ({written} bytes, {version.sample_count} samples).")


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
        reply = _session(data_dir, token).call(
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
            scenario=_scenario(scenario), name=name, seed=seed, publish=publish_version
        )
        reply = _session(data_dir, token).call("LoadDemoDataset", request, timeout=LONG_TIMEOUT)
    if as_json:
        _emit(reply)
        return
    _print_dataset(reply.dataset)
    if reply.HasField("version"):
        _print_version(reply.version)
