"""`mlops datasets ...` against a running dataset service: one walk through the whole loop."""

from __future__ import annotations

import asyncio
import io
import tarfile
from pathlib import Path

from typer.testing import CliRunner

from mlops.cli.main import app
from mlops.stack.stackfile import StackInfo
from tests.integration.test_dataset_api import Running, image_zip, running  # noqa: F401
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
