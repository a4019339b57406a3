"""`mlops models ...` against a running registry: one walk from registering to production."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops.cli.main import app
from mlops.stack.servers import NatsServer
from mlops.stack.stackfile import StackInfo
from tests.fixtures.s3 import S3Endpoint
from tests.registry.builders import tiny_onnx
from tests.registry.harness import ENGINEER, ENGINEER_2, Registry, start_registry


@pytest.fixture
async def registry(tmp_path: Path, nats_server: NatsServer, s3_server: S3Endpoint) -> AsyncIterator[Registry]:
    async for started in start_registry(tmp_path, nats_server, s3_server):
        yield started


async def _mlops(data_dir: Path, *args: str, token: str = ENGINEER, code: int = 0) -> str:
    """Runs the CLI in a thread: its blocking gRPC calls must not stall the service's event loop."""
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["models", *args, "--data-dir", str(data_dir), "--token", token]
    )
    assert result.exit_code == code, result.output
    return result.output


async def test_cli_walks_a_model_to_production(registry: Registry, tmp_path: Path) -> None:
    data_dir = tmp_path / "cli"
    data_dir.mkdir()
    StackInfo(data_dir=str(data_dir), endpoints={"registry": registry.address}).save()
    run = await registry.add_run(metrics={"macro_f1": 0.9})

    assert "fraud" in await _mlops(data_dir, "create", "fraud", "-s", "anomaly_detection", "-t", "demo")
    assert "macro_f1 >= 0.8" in await _mlops(data_dir, "gates", "fraud", "--set", "macro_f1>=0.8")
    assert "fraud v1" in await _mlops(data_dir, "register", "fraud", "--run", run.id)
    model_file = tmp_path / "model.onnx"
    model_file.write_bytes(tiny_onnx())
    signature = {
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 3]}],
    }
    assert "external upload" in await _mlops(
        data_dir, "upload", "fraud", str(model_file), "--signature", json.dumps(signature)
    )
    refused = await _mlops(
        data_dir, "upload", "fraud", str(model_file), "--signature", '{"inputs": []}', code=1
    )
    assert "INVALID_ARGUMENT" in refused
    listed = await _mlops(data_dir, "versions", "fraud")
    assert "v1" in listed and "v2" in listed and "external" in listed

    card_file = tmp_path / "card.md"
    await _mlops(data_dir, "card", "fraud", "1", "--intended-use", "Flag card fraud.", "-o", str(card_file))
    assert "Flag card fraud." in card_file.read_text() and run.id in card_file.read_text()

    await _mlops(data_dir, "stage", "fraud", "1", "staging")
    requested = await _mlops(data_dir, "request-approval", "fraud", "1", "--reason", "first model", "--json")
    approval_id = json.loads(requested)["id"]
    assert "PERMISSION_DENIED" in await _mlops(data_dir, "approve", approval_id, code=1)
    assert "approved" in await _mlops(data_dir, "approve", approval_id, token=ENGINEER_2)
    assert "production" in await _mlops(
        data_dir, "stage", "fraud", "1", "production", "--approval", approval_id
    )
    assert "champion" in await _mlops(data_dir, "alias", "fraud", "production", "champion")
    assert "fraud v1 (champion)" in await _mlops(data_dir, "show", "fraud", "champion")
    assert "FAILED_PRECONDITION" in await _mlops(data_dir, "delete", "fraud", "1", code=1)

    compared = await _mlops(data_dir, "compare", "fraud", "1", "2", "--json")
    assert {row["name"] for row in json.loads(compared)["data"]} >= {"external", "run_id"}
    lineage = await _mlops(data_dir, "lineage", "--model", "fraud", "--version", "1")
    assert re.search(r"run \w+ -> model_version fraud v1", lineage)
    assert "ds1" in await _mlops(
        data_dir,
        "rules",
        "fraud",
        "--dataset",
        "ds1",
        "--algorithm",
        "anomaly_detection",
        "--metric",
        "macro_f1",
    )
    assert "fraud" in await _mlops(data_dir, "list")
    assert approval_id in await _mlops(data_dir, "approvals", "fraud", "--state", "approved")
