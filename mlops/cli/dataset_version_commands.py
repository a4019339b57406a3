"""`mlops datasets` commands on versions: publish, list, show, diff, archive, restore, delete, download."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
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
from mlops.cli.dataset_download import S3Unreachable, download_direct
from mlops.cli.dataset_options import (
    ARCHIVES,
    LONG_TIMEOUT,
    DatasetArg,
    VersionArg,
    counts_text,
    dataset_session,
    print_version,
)
from mlops.cli.dataset_stream import download_through_service
from mlops.datasets.checksum import Verification

app = typer.Typer()


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
        session = dataset_session(data_dir, token)
        request = pb.PublishVersionRequest(dataset_id=session.dataset(dataset).id, message=message)
        version = session.call("PublishVersion", request, timeout=LONG_TIMEOUT)
    emit_message(version) if as_json else print_version(version)


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
        session = dataset_session(data_dir, token)
        request = pb.ListVersionsRequest(
            dataset_id=session.dataset(dataset).id, include_archived=include_archived
        )
        found = list(session.pages("ListVersions", request, "versions"))
        reply = pb.ListVersionsResponse(versions=found, page=common_pb2.PageResponse(total_size=len(found)))
    if as_json:
        emit_message(reply)
        return
    table = Table("version", "state", "samples", "purposes", "author", "message", "used by")
    for v in reply.versions:
        state = "archived" if v.state == pb.VERSION_STATE_ARCHIVED else "published"
        table.add_row(
            f"v{v.number}",
            state,
            str(v.sample_count),
            counts_text(v.counts_per_purpose),
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
        session = dataset_session(data_dir, token)
        request = pb.GetVersionRequest(dataset_id=session.dataset(dataset).id, number=number)
        version = session.call("GetVersion", request)
    emit_message(version) if as_json else print_version(version)


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
        session = dataset_session(data_dir, token)
        reply = session.call(
            "DiffVersions",
            pb.DiffVersionsRequest(
                dataset_id=session.dataset(dataset).id, from_number=from_number, to_number=to_number
            ),
        )
    if as_json:
        emit_message(reply)
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
        session = dataset_session(data_dir, token)
        request = pb.ArchiveVersionRequest(dataset_id=session.dataset(dataset).id, number=number)
        version = session.call("UnarchiveVersion" if undo else "ArchiveVersion", request)
    print_version(version)


@app.command()
def restore(
    dataset: DatasetArg,
    number: VersionArg,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    token: TokenOption = None,
) -> None:
    """Make the draft exactly a version's content."""
    with cli_errors():
        session = dataset_session(data_dir, token)
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
        session = dataset_session(data_dir, token)
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
        if archive_format not in ARCHIVES:
            raise CliError(f"--format {archive_format!r}: tar.gz or zip")
        if verify is not None and direct is False:
            raise CliError("--verify applies to reads from S3 (the service checks what it streams)")
        session = dataset_session(data_dir, token)
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
            dataset_id=target.id, number=number, format=ARCHIVES[archive_format]
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
