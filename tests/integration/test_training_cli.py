"""`mlops runs ...` and `mlops algorithms ...` against a running training stack with one worker."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops.cli.main import app
from mlops.stack.servers import NatsServer
from mlops.stack.stackfile import StackInfo
from tests.fixtures.s3 import S3Endpoint, unique_bucket
from tests.training.harness import SAM, SID, TEXT, TrainingStack, training_stack


@pytest.fixture
async def stack(
    tmp_path: Path, nats_server: NatsServer, s3_server: S3Endpoint, redis_url: str
) -> AsyncIterator[TrainingStack]:
    async with training_stack(
        tmp_path, nats_server.url, s3_server.settings(unique_bucket()), redis_url
    ) as running:
        yield running


async def _mlops(data_dir: Path, *args: str, token: str = SAM, code: int = 0) -> str:
    """Runs the CLI in a thread: its blocking gRPC calls must not stall the services' event loop."""
    result = await asyncio.to_thread(
        CliRunner().invoke, app, [*args, "--data-dir", str(data_dir), "--token", token]
    )
    assert result.exit_code == code, result.output
    return result.output


async def test_cli_starts_follows_and_inspects_runs(stack: TrainingStack, tmp_path: Path) -> None:
    data_dir = tmp_path / "cli"
    data_dir.mkdir()
    StackInfo(
        data_dir=str(data_dir),
        endpoints={"training": stack.training_address, "dataset": stack.dataset_address},
    ).save()
    version = await stack.text_version()
    stack.start_worker()

    assert TEXT in await _mlops(data_dir, "algorithms", "list", "--json")
    assert "epochs" in await _mlops(data_dir, "algorithms", "show", TEXT)

    started = json.loads(
        await _mlops(
            data_dir, "runs", "start", TEXT, version.dataset_id, str(version.number),
            "--name", "cli-run", "--preset", "quick", "--param", "epochs=3", "--seed", "9",
            "--idempotency-key", "cli-1", "--json",
        )
    )  # fmt: skip
    run_id = started["id"]
    assert started["parameters"]["epochs"] == 3
    followed = await _mlops(data_dir, "runs", "logs", run_id, "--follow")
    assert "epoch 3/3" in followed
    shown = await _mlops(data_dir, "runs", "show", run_id)
    assert "succeeded" in shown and "default" in shown
    assert "cli-run" in await _mlops(data_dir, "runs", "list", "--status", "succeeded")
    assert "train_loss (3 points)" in await _mlops(data_dir, "runs", "metrics", run_id, "-k", "train_loss")
    assert "bundle.zip" in await _mlops(data_dir, "runs", "artifacts", run_id)
    target = tmp_path / "model.onnx"
    assert "Wrote" in await _mlops(data_dir, "runs", "download", run_id, "model.onnx", "-o", str(target))
    listed = json.loads(await _mlops(data_dir, "runs", "artifacts", run_id, "--json"))
    onnx = next(a for a in listed["artifacts"] if a["name"] == "model.onnx")
    assert hashlib.sha256(target.read_bytes()).hexdigest() == onnx["sha256"]

    reproduced = await _mlops(data_dir, "runs", "reproduce", run_id, "--wait")
    assert "model hash matches: True" in reproduced
    retried = json.loads(await _mlops(data_dir, "runs", "retry", run_id, "--json"))
    assert retried["retry_of"] == run_id
    compared = await _mlops(data_dir, "runs", "compare", run_id, retried["id"])
    assert "epochs" in compared

    # Someone else's run, a wrong confirmation, a finished run: one line on stderr, exit code 1.
    await _mlops(data_dir, "runs", "stop", run_id, "--confirm", "cli-run", token=SID, code=1)
    await _mlops(data_dir, "runs", "stop", run_id, "--confirm", "nope", code=1)
    assert "FAILED_PRECONDITION" in await _mlops(
        data_dir, "runs", "stop", run_id, "--confirm", "cli-run", code=1
    )
