"""What the `mlops datasets` commands share: the dataset service session, argument types, parsing of
scenarios and purposes, and how datasets and versions are printed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlops.api.common.v1 import common_pb2
from mlops.api.dataset.v1 import dataset_pb2 as pb
from mlops.api.dataset.v1 import dataset_pb2_grpc
from mlops.cli.client import (
    CliError,
    ServiceSession,
    connect,
    console,
)

LONG_TIMEOUT = 3600.0
PURPOSES = {
    "training": pb.PURPOSE_TRAINING,
    "validation": pb.PURPOSE_VALIDATION,
    "testing": pb.PURPOSE_TESTING,
}
ARCHIVES = {"tar.gz": pb.ARCHIVE_FORMAT_TAR_GZ, "zip": pb.ARCHIVE_FORMAT_ZIP}

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


def dataset_session(data_dir: Path, token: str | None) -> ServiceSession:
    return ServiceSession(connect(data_dir, token), "dataset", dataset_pb2_grpc.DatasetServiceStub)


def parse_scenario(value: str) -> Any:  # the stubs type enums as their own classes
    key = "SCENARIO_" + value.strip().upper().replace("-", "_")
    if key not in common_pb2.Scenario.keys() or key == "SCENARIO_UNSPECIFIED":
        names = ", ".join(k.removeprefix("SCENARIO_").lower() for k in common_pb2.Scenario.keys()[1:])
        raise CliError(f"unknown scenario {value!r}; one of {names}")
    return common_pb2.Scenario.Value(key)


def scenario_name(value: int) -> str:
    return common_pb2.Scenario.Name(value).removeprefix("SCENARIO_").lower()  # type: ignore[arg-type]


def parse_purpose(value: str | None) -> Any:
    if not value:
        return pb.PURPOSE_UNSPECIFIED
    key = {"train": "training", "val": "validation", "test": "testing"}.get(value.lower(), value.lower())
    if key not in PURPOSES:
        raise CliError(f"unknown purpose {value!r}; one of training, validation, testing")
    return PURPOSES[key]


def purpose_name(value: int) -> str:
    return pb.Purpose.Name(value).removeprefix("PURPOSE_").lower()  # type: ignore[arg-type]


def counts_text(counts: Any) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-"


def print_dataset(dataset: pb.Dataset) -> None:
    console.print(f"[bold]{dataset.name}[/] ({dataset.id})", highlight=False)
    console.print(f"  scenario: {scenario_name(dataset.scenario)}   owner: {dataset.owner}", highlight=False)
    console.print(f"  tags: {', '.join(dataset.tags) or '-'}   description: {dataset.description or '-'}")
    console.print(
        f"  draft samples: {dataset.draft_sample_count}   latest version: v{dataset.latest_version}"
    )


def print_version(version: pb.DatasetVersion) -> None:
    state = "archived" if version.state == pb.VERSION_STATE_ARCHIVED else "published"
    console.print(f"[bold]v{version.number}[/] {state} by {version.author}: {version.message or '-'}")
    console.print(
        f"  samples: {version.sample_count} ({version.total_bytes} bytes)  digest: {version.manifest_digest}"
    )
    console.print(f"  purposes: {counts_text(version.counts_per_purpose)}")
    console.print(f"  labels: {counts_text(version.counts_per_label)}")
    if version.used_by:
        console.print(f"  used by: {', '.join(version.used_by)}")
