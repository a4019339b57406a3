"""`mlops datasets` commands on a draft's samples: upload, list, show, change, delete, relabel, split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table

from mlops.api.common.v1 import common_pb2
from mlops.api.dataset.v1 import dataset_pb2 as pb
from mlops.cli.client import (
    DEFAULT_DATA_DIR,
    CliError,
    DataDirOption,
    JsonOption,
    TokenOption,
    cli_errors,
    console,
    emit_message,
)
from mlops.cli.dataset_options import (
    LONG_TIMEOUT,
    ClearAnnotationOption,
    DatasetArg,
    MetadataOption,
    SampleArg,
    SampleIdsOption,
    UnlabeledOption,
    counts_text,
    dataset_session,
    parse_purpose,
    purpose_name,
)
from mlops.cli.dataset_samples import (
    annotation_from_options,
    annotation_text,
    find_sample,
    metadata_from_options,
    metadata_of,
    print_sample,
)
from mlops.cli.dataset_upload import FORMATS, collect_files, plan_upload, upload_parts

app = typer.Typer()


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
            "purpose": parse_purpose(purpose),
            "media_type": media_type,
            "replace": replace,
            "metadata": metadata_from_options(metadata, metadata_json),
        }
        found = collect_files(files, relative_to)
        session = dataset_session(data_dir, token)
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
        emit_message(reply)
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
        session = dataset_session(data_dir, token)
        target = session.dataset(dataset)
        request = pb.ListSamplesRequest(
            dataset_id=target.id,
            version=version,
            filter=pb.SampleFilter(
                purpose=parse_purpose(purpose), label=label, name_prefix=prefix, unlabeled_only=unlabeled
            ),
            page=common_pb2.PageRequest(page_size=limit),
        )
        if every_page:
            found = list(session.pages("ListSamples", request, "samples", page_size=limit))
            reply = pb.ListSamplesResponse(samples=found, page=common_pb2.PageResponse(total_size=len(found)))
        else:
            reply = session.call("ListSamples", request)
    if as_json:
        emit_message(reply)
        return
    table = Table("name", "purpose", "annotation", "size", "sha256", "id")
    for s in reply.samples:
        table.add_row(
            s.name,
            purpose_name(s.purpose),
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
        session = dataset_session(data_dir, token)
        found = find_sample(session, session.dataset(dataset).id, sample_ref, version)
    emit_message(found) if as_json else print_sample(found, purpose_name(found.purpose), version)


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
        session = dataset_session(data_dir, token)
        dataset_id = session.dataset(dataset).id
        current = find_sample(session, dataset_id, sample_ref)
        request = pb.UpdateSampleRequest(dataset_id=dataset_id, sample_id=current.id)
        if purpose:
            request.purpose = parse_purpose(purpose)
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
    emit_message(updated) if as_json else print_sample(updated, purpose_name(updated.purpose))


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
        session = dataset_session(data_dir, token)
        selection = pb.SampleFilter(
            purpose=parse_purpose(purpose),
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
        session = dataset_session(data_dir, token)
        request = pb.RelabelSamplesRequest(
            dataset_id=session.dataset(dataset).id,
            filter=pb.SampleFilter(
                purpose=parse_purpose(purpose),
                label=label,
                name_prefix=prefix,
                sample_ids=sample_ids or [],
                unlabeled_only=unlabeled,
            ),
            set_purpose=parse_purpose(set_purpose),
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
    """Assign purposes by ratios (stratified by label; chronological for time series, whole series
    where they share their period)."""
    with cli_errors():
        try:
            training, validation, testing = (float(r) for r in ratios.split(","))
        except ValueError:
            raise CliError(f"--ratios {ratios!r}: three numbers, e.g. 0.7,0.15,0.15") from None
        session = dataset_session(data_dir, token)
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
    console.print(f"Split ({reply.strategy}): {counts_text(reply.counts_per_purpose)}")
