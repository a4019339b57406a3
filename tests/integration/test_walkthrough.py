"""The README's "From data to a served model", command by command, on a live embedded stack.

Every service is the real one (no stand-ins): dataset -> training (Celery worker) -> registry -> serving
(control plane and worker), reached through the `mlops` CLI and the inference endpoints as a user
reaches them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as triton_http

from mlops.stack.stackfile import StackInfo
from tests.integration.test_stack import mlops

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[StackInfo]:
    data_dir = tmp_path / "stack"
    started = mlops("up", "--detach", "--data-dir", str(data_dir), timeout=240)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        info = StackInfo.load(data_dir)
        assert info is not None
        yield info
    finally:
        mlops("down", "--data-dir", str(data_dir), timeout=90)


def cli_json(info: StackInfo, *args: str, timeout: float = 180) -> Any:
    done = mlops(*args, "--json", env={"MLOPS_DATA_DIR": str(info.data_dir)}, timeout=timeout)
    assert done.returncode == 0, f"mlops {' '.join(args)}: {done.stdout}{done.stderr}"
    return json.loads(done.stdout)


def wait_until(check: Callable[[], Any], within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while True:
        outcome = check()
        if outcome:
            return outcome
        assert time.monotonic() < deadline, f"{what} did not happen within {within} s"
        time.sleep(1)


def test_from_data_to_a_served_model(stack: StackInfo) -> None:
    demo = cli_json(stack, "datasets", "demo", "text_classification", "--publish")
    dataset, version = demo["dataset"], demo["version"]
    assert version["number"] == 1 and version["state"] == "VERSION_STATE_PUBLISHED"

    run = cli_json(
        stack, "runs", "start", "text-classification-ngram", dataset["name"], "1", "--name", "first",
        "--preset", "quick",
    )  # fmt: skip
    followed = mlops(
        "runs", "logs", run["id"], "--follow", env={"MLOPS_DATA_DIR": str(stack.data_dir)}, timeout=600
    )
    assert followed.returncode == 0, followed.stderr
    finished = cli_json(stack, "runs", "show", run["id"])
    assert finished["status"] == "RUN_STATUS_SUCCEEDED", finished
    assert finished["summary_metrics"]["accuracy"] > 0.8

    cli_json(stack, "models", "create", "support-router", "--scenario", "text_classification")
    registered = cli_json(stack, "models", "register", "support-router", "--run", run["id"])
    assert registered["number"] == 1
    lineage = cli_json(stack, "models", "show", "support-router", "1")["lineage"]
    assert (lineage["run_id"], lineage["dataset_id"], lineage["dataset_version"]) == (
        run["id"],
        dataset["id"],
        1,
    )

    cli_json(stack, "deployments", "deploy", "support", "--model", "support-router", "--version", "1")
    wait_until(
        lambda: cli_json(stack, "deployments", "show", "support")["state"] == "DEPLOYMENT_STATE_READY",
        within=120,
        what="the deployment getting ready",
    )
    token = Path(stack.admin_token_path).read_text().strip()
    rest = stack.endpoints["inference_rest"]
    answer = httpx.post(
        f"{rest}/v2/models/support/predict",
        json={"input": "I was charged twice this month"},
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["label"] == "billing"
    refused = httpx.post(f"{rest}/v2/models/support/predict", json={"input": "hello"}, timeout=30)
    assert refused.status_code == 401

    # The same deployment through Triton's own client and the KServe V2 tensor protocol.
    client = triton_http.InferenceServerClient(rest.removeprefix("http://"))
    headers = {"authorization": f"Bearer {token}"}
    assert client.is_model_ready("support", headers=headers)
    metadata = client.get_model_metadata("support", headers=headers)
    tokens = triton_http.InferInput(metadata["inputs"][0]["name"], [1, 4], "INT64")
    tokens.set_data_from_numpy(np.array([[5, 17, 99, 3]], dtype=np.int64))
    probabilities = client.infer("support", [tokens], headers=headers).as_numpy(
        metadata["outputs"][0]["name"]
    )
    assert probabilities is not None and probabilities.shape == (1, 6)
    assert abs(float(probabilities.sum()) - 1.0) < 1e-3

    # Live metrics arrive with the worker's heartbeats (JSON leaves a zero count out until the
    # first one); the revision serves the registered version.
    wait_until(
        lambda: int(cli_json(stack, "deployments", "metrics", "support").get("requests", 0)) >= 2,
        within=60,
        what="metrics reaching the control plane",
    )
    [revision] = cli_json(stack, "deployments", "revisions", "support")["revisions"]
    assert revision["model_version"] == {"model": "support-router", "number": 1}

    stopped = cli_json(stack, "deployments", "stop", "support")
    assert stopped["state"] == "DEPLOYMENT_STATE_STOPPED"
