"""`mlops datasets ...` against a running dataset service: one walk through the whole loop."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlops.api.common.v1 import common_pb2
from mlops.cli.client import CliError
from mlops.cli.dataset_upload import FORMATS, UploadFile, collect_files, guess_format, plan_upload
from mlops.cli.main import app
from mlops.stack.stackfile import StackInfo
from tests.dataset.builders import png, tar_bytes, zip_bytes
from tests.integration.test_dataset_api import IMAGES, Running, distinct_png, image_zip, running  # noqa: F401
from tests.integration.test_grpc_auth import ADMIN


async def _mlops(data_dir: Path, *args: str) -> str:
    """Runs the CLI in a thread: its blocking gRPC calls must not stall the service's event loop."""
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["datasets", *args, "--data-dir", str(data_dir), "--token", ADMIN]
    )
    assert result.exit_code == 0, result.output
    return result.output


async def test_cli_walks_a_dataset_from_upload_to_download(running: Running, tmp_path: Path) -> None:  # noqa: F811
    data_dir = tmp_path / "cli"
    data_dir.mkdir()
    StackInfo(data_dir=str(data_dir), endpoints={"dataset": f"127.0.0.1:{running.runtime.port}"}).save()
    assert "pets" in await _mlops(
        data_dir, "create", "pets", "--scenario", "image_classification", "-t", "demo"
    )
    archive = tmp_path / "pets.zip"
    archive.write_bytes(image_zip(10))
    assert "Added 10 samples" in await _mlops(data_dir, "upload", "pets", str(archive))
    assert "training" in await _mlops(data_dir, "split", "pets", "--ratios", "0.6,0.2,0.2", "--seed", "1")
    assert "Changed 5 samples" in await _mlops(
        data_dir, "relabel", "pets", "--label", "dog", "--set-label", "cat"
    )
    assert "v1" in await _mlops(data_dir, "publish", "pets", "-m", "first")
    assert "10 of 10 samples" in await _mlops(data_dir, "samples", "pets", "--version", "1")
    assert "v1" in await _mlops(data_dir, "versions", "pets")
    assert "0 added" in await _mlops(data_dir, "diff", "pets", "1", "0")
    target = tmp_path / "v1.tar.gz"
    assert "Wrote" in await _mlops(data_dir, "download", "pets", "1", "-o", str(target))
    with tarfile.open(fileobj=io.BytesIO(target.read_bytes()), mode="r:gz") as unpacked:
        assert len(unpacked.getnames()) == 11
    assert "archived" in await _mlops(data_dir, "archive", "pets", "1")
    assert "10 samples" in await _mlops(data_dir, "restore", "pets", "1")
    assert "Would remove 0 blobs" in await _mlops(data_dir, "gc", "--dry-run")
    assert "pets" in await _mlops(data_dir, "list")
    assert "anomaly_detection" in await _mlops(data_dir, "demo", "anomaly_detection", "--publish")


# --- samples, versions and uploads beyond the walk ------------------------------------------------


async def _mlops_fails(data_dir: Path, *args: str) -> str:
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["datasets", *args, "--data-dir", str(data_dir), "--token", ADMIN]
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return " ".join(result.output.split())  # rich wraps long error lines


async def _document(data_dir: Path, *args: str) -> Any:
    return json.loads(await _mlops(data_dir, *args, "--json"))


def _stack(running: Running, tmp_path: Path) -> Path:  # noqa: F811
    data_dir = tmp_path / "cli"
    data_dir.mkdir()
    StackInfo(data_dir=str(data_dir), endpoints={"dataset": f"127.0.0.1:{running.runtime.port}"}).save()
    return data_dir


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


async def test_cli_uploads_a_folder_tree_and_curates_samples_and_versions(
    running: Running,  # noqa: F811
    tmp_path: Path,
) -> None:
    data_dir = _stack(running, tmp_path)
    await _mlops(data_dir, "create", "pets", "--scenario", "image_classification")
    pets = _tree(
        tmp_path / "pets",
        {
            "cat/1.png": distinct_png(1),
            "dog/1.png": distinct_png(2),
            "dog/2.png": distinct_png(3),
            "dog/.thumb.png": distinct_png(4),
            ".cache/cat/9.png": distinct_png(5),
        },
    )
    refused = await _mlops_fails(data_dir, "upload", "pets", str(pets / "cat/1.png"), str(pets / "dog/1.png"))
    assert "'1.png'" in refused and "--relative-to" in refused

    added = await _mlops(
        data_dir, "upload", "pets", str(pets), "--label-from-folder", "--metadata", "source=cli"
    )
    assert "Added 3 samples" in added
    listed = (await _document(data_dir, "samples", "pets"))["samples"]
    assert [(s["name"], s["annotation"]["label"]) for s in listed] == [
        ("cat/1.png", "cat"),
        ("dog/1.png", "dog"),
        ("dog/2.png", "dog"),
    ]
    assert all(s["metadata"]["source"] == "cli" for s in listed)

    birds = _tree(tmp_path / "more", {"bird/1.png": distinct_png(6)})
    relative = ["--relative-to", str(birds)]
    assert "Added 1 samples" in await _mlops(data_dir, "upload", "pets", str(birds / "bird/1.png"), *relative)
    assert "Changed 1 samples" in await _mlops(
        data_dir, "relabel", "pets", "--unlabeled", "--set-label", "bird"
    )
    ids = {s["name"]: s["id"] for s in (await _document(data_dir, "samples", "pets"))["samples"]}
    assert "Changed 2 samples" in await _mlops(
        data_dir,
        "relabel",
        "pets",
        "--id",
        ids["cat/1.png"],
        "--id",
        ids["bird/1.png"],
        "--set-purpose",
        "test",
    )
    assert (await _document(data_dir, "sample", "pets", ids["bird/1.png"]))["annotation"]["label"] == "bird"
    purposes = {s["name"]: s["purpose"] for s in (await _document(data_dir, "samples", "pets"))["samples"]}
    assert [n for n, p in purposes.items() if p == "PURPOSE_TESTING"] == ["bird/1.png", "cat/1.png"]

    assert "2 of 4 samples" in await _mlops(data_dir, "samples", "pets", "--limit", "2")
    every = await _mlops(data_dir, "samples", "pets", "--all", "--limit", "3")
    assert "4 of 4 samples" in every and all(name in every for name in ids)
    assert len((await _document(data_dir, "samples", "pets", "--all", "--limit", "1"))["samples"]) == 4

    await _mlops(data_dir, "publish", "pets", "-m", "first")
    shown = await _mlops(data_dir, "version", "pets", "1")
    assert "v1 published" in shown and "first" in shown and "labels: bird 1, cat 1, dog 2" in shown
    version = await _document(data_dir, "version", "pets", "1")
    assert version["sample_count"] == "4" and len(version["manifest_digest"]) == 64
    assert "NOT_FOUND" in await _mlops_fails(data_dir, "version", "pets", "7")
    in_version = await _mlops(data_dir, "sample", "pets", "dog/2.png", "--version", "1")
    assert "dog/2.png (in v1)" in in_version and "label dog" in in_version
    assert "no sample 'dog/3.png' in v1" in await _mlops_fails(
        data_dir, "sample", "pets", "dog/3.png", "-v", "1"
    )


async def test_cli_shows_and_updates_one_sample_with_boxes(running: Running, tmp_path: Path) -> None:  # noqa: F811
    data_dir = _stack(running, tmp_path)
    await _mlops(data_dir, "create", "street", "--scenario", "object_detection")
    image = tmp_path / "street.png"
    image.write_bytes(distinct_png(1))  # 8x6 pixels
    assert "Added 1 samples" in await _mlops(data_dir, "upload", "street", str(image))
    sample_id = (await _document(data_dir, "samples", "street"))["samples"][0]["id"]

    updated = await _mlops(
        data_dir,
        "update-sample",
        "street",
        sample_id,
        "--box",
        "car:1,1,3,2",
        "--box",
        "person:0,0,2,2.5",
        "--purpose",
        "validation",
        "--metadata",
        "camera=front",
    )
    assert "2 boxes: car:1,1,3,2; person:0,0,2,2.5" in updated
    shown = await _document(data_dir, "sample", "street", sample_id)
    assert shown["purpose"] == "PURPOSE_VALIDATION"
    assert shown["annotation"]["boxes"]["boxes"][0] == {
        "label": "car",
        "x": 1,
        "y": 1,
        "width": 3,
        "height": 2,
    }
    assert shown["metadata"]["camera"] == "front" and shown["metadata"]["width"] == 8  # other keys kept
    assert "annotation: -" in await _mlops(
        data_dir, "update-sample", "street", "street.png", "--clear-annotation"
    )
    assert "LABEL:X,Y,W,H" in await _mlops_fails(
        data_dir, "update-sample", "street", sample_id, "--box", "car:1,2"
    )
    assert "exclude each other" in await _mlops_fails(
        data_dir, "update-sample", "street", sample_id, "--box", "car:1,1,1,1", "--clear-annotation"
    )

    assert "Changed 1 samples" in await _mlops(
        data_dir, "relabel", "street", "--unlabeled", "--set-box", "bus:0,0,4,4"
    )
    assert "1 box (bus)" in await _mlops(data_dir, "samples", "street")
    assert "Changed 1 samples" in await _mlops(
        data_dir, "relabel", "street", "--id", sample_id, "--clear-annotation"
    )
    assert "annotation: -" in await _mlops(data_dir, "sample", "street", sample_id)
    assert "takes a boxes annotation" in await _mlops_fails(data_dir, "relabel", "street", "--set-label", "x")


async def test_cli_annotates_uploaded_images_with_a_bare_coco_file(running: Running, tmp_path: Path) -> None:  # noqa: F811
    data_dir = _stack(running, tmp_path)
    await _mlops(data_dir, "create", "street", "--scenario", "object_detection")
    images = _tree(tmp_path / "images", {"a.png": png(20, 10), "b.png": png(8, 8)})
    added = await _mlops(data_dir, "upload", "street", str(images))
    assert "Added 2 samples" in added and "Annotated" not in added
    coco = {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 20, "height": 10},
            {"id": 2, "file_name": "b.png", "width": 8, "height": 8},
        ],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 1, 5, 4]}],
        "categories": [{"id": 3, "name": "car"}],
    }
    exported = tmp_path / "annotations.json"
    exported.write_text(json.dumps(coco))
    annotated = await _mlops(data_dir, "upload", "street", str(exported))
    assert "Added 0 samples" in annotated and "Annotated 2 samples" in annotated
    listed = await _mlops(data_dir, "samples", "street")
    assert "1 box (car)" in listed and "0 boxes" in listed
    again = await _document(data_dir, "upload", "street", str(exported))
    assert again["samples_annotated"] == 2
    shown = await _document(data_dir, "sample", "street", "a.png")
    assert shown["annotation"]["boxes"]["boxes"] == [
        {"label": "car", "x": 1, "y": 1, "width": 5, "height": 4}
    ]


# --- what upload sends, without a service ----------------------------------------------------------


def test_upload_names_files_by_their_directory_or_relative_to(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "tree", {"b/2.png": b"x", "a/1.png": b"x", "a/.hidden": b"x", "top.png": b"x"})
    assert [f.name for f in collect_files([tree])] == ["a/1.png", "b/2.png", "top.png"]
    assert [f.name for f in collect_files([tree / "a"], tmp_path)] == ["tree/a/1.png"]
    assert [f.name for f in collect_files([tree / "a/1.png", tree / "b/2.png"], tree)] == [
        "a/1.png",
        "b/2.png",
    ]
    with pytest.raises(CliError, match="not inside --relative-to"):
        collect_files([tree / "top.png"], tree / "a")
    with pytest.raises(CliError, match=r"'1.png' \(.*a/1.png, .*1.png\).*directory.*--relative-to"):
        collect_files([tree / "a/1.png", tree / "a", tmp_path / "tree/a/1.png"], tree / "a")
    with pytest.raises(CliError, match="in no folder"):
        plan_upload(collect_files([tree]), IMAGES, label_from_folder=True)
    planned = plan_upload(collect_files([tree / "a", tree / "b"], tree), IMAGES, label_from_folder=True)
    assert [p.label for p in planned] == ["a", "b"]


def test_upload_guesses_formats_by_name_and_scenario(tmp_path: Path) -> None:
    coco = {"annotations.json": b"{}", "images/a.png": b"x"}
    files = {
        "a.csv": b"x",
        "a.jsonl": b"x",
        "a.json": b"x",
        "a.txt": b"x",
        "a.log": b"x",
        "a.png": b"x",
        "images.zip": zip_bytes({"a.png": b"x"}).getvalue(),
        "coco.zip": zip_bytes(coco).getvalue(),
        "coco.tar.gz": tar_bytes(coco, "w:gz").getvalue(),
        "coco.gz": tar_bytes(coco, "w:gz").getvalue(),
        "rows.csv.gz": gzip.compress(b"a,b\n1,2\n"),
    }
    _tree(tmp_path, files)

    def guesses(scenario: int) -> dict[str, str]:
        return {
            name: guess_format(UploadFile(tmp_path / name, name), scenario)
            for name in files
            if name != "rows.csv.gz"
        }

    common = {"a.jsonl": "jsonl", "a.png": "file", "images.zip": "image_archive", "coco.zip": "image_archive"}
    assert guesses(IMAGES) == {
        **common,
        "a.csv": "csv",
        "a.json": "file",
        "a.txt": "file",
        "a.log": "log_lines",
        "coco.tar.gz": "image_archive",
        "coco.gz": "image_archive",
    }
    detection = guesses(common_pb2.SCENARIO_OBJECT_DETECTION)
    assert detection["a.json"] == detection["coco.zip"] == detection["coco.tar.gz"] == "coco_json"
    assert detection["images.zip"] == "image_archive"
    assert guesses(common_pb2.SCENARIO_LOG_CLUSTERING)["a.txt"] == "log_lines"
    assert guesses(common_pb2.SCENARIO_TEXT_CLASSIFICATION)["a.log"] == "file"
    assert guesses(common_pb2.SCENARIO_TIME_SERIES_FORECASTING)["a.csv"] == "file"
    with pytest.raises(CliError, match="decompress it first"):
        guess_format(UploadFile(tmp_path / "rows.csv.gz", "rows.csv.gz"), IMAGES)
    with pytest.raises(CliError, match=r"neither a ZIP or TAR archive .* nor a COCO \.json document"):
        plan_upload([UploadFile(tmp_path / "a.json", "a.json")], common_pb2.SCENARIO_OBJECT_DETECTION)
    (tmp_path / "bare.json").write_bytes(b'\n {"images": []}')
    [bare] = plan_upload(
        [UploadFile(tmp_path / "bare.json", "bare.json")], common_pb2.SCENARIO_OBJECT_DETECTION
    )
    assert bare.format == FORMATS["coco_json"]
    with pytest.raises(CliError, match=r"not a ZIP or TAR archive, as image_archive needs"):
        plan_upload([UploadFile(tmp_path / "bare.json", "bare.json")], IMAGES, file_format="image_archive")
