"""`mlops tokens` against a gateway running as its own process (`python -m services.gateway.main`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from mlops.cli.main import app
from mlops.stack.ports import free_port
from mlops.stack.stackfile import StackInfo

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class GatewayProcess:
    process: subprocess.Popen[bytes]
    data_dir: Path
    url: str
    log: Path


@pytest.fixture
def gateway_process(tmp_path: Path) -> Iterator[GatewayProcess]:
    data_dir = tmp_path / "data"
    http_port, identity_port = free_port(), free_port()
    env = {
        **os.environ,
        "MLOPS_DATA_DIR": str(data_dir),
        "MLOPS_HTTP_PORT": str(http_port),
        "MLOPS_IDENTITY_ADDRESS": f"127.0.0.1:{identity_port}",
        "MLOPS_LOG_JSON": "false",
    }
    log = tmp_path / "gateway.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.gateway.main"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        url = f"http://127.0.0.1:{http_port}"
        assert _wait_until_answering(f"{url}/healthz", process), log.read_text()
        StackInfo(
            data_dir=str(data_dir), endpoints={"gateway": url, "identity": f"127.0.0.1:{identity_port}"}
        ).save()
        yield GatewayProcess(process, data_dir, url, log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _wait_until_answering(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            httpx.get(url, timeout=2)
            return True
        except httpx.TransportError:
            time.sleep(0.1)
    return False


def _mlops(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_tokens_create_list_revoke_through_the_cli(gateway_process: GatewayProcess) -> None:
    data = ["--data-dir", str(gateway_process.data_dir)]
    code, out, err = _mlops("tokens", "create", "--role", "viewer", "--subject", "vic", "--json", *data)
    assert code == 0, err
    created = json.loads(out)
    assert created["info"]["role"] == "viewer" and created["token"].startswith("mlops_")
    token_id = created["info"]["token_id"]

    code, out, err = _mlops("tokens", "create", "--role", "auditor", "--ttl", "1d", *data)
    assert code == 0, err
    assert "auditor" in out and "mlops_" in out

    code, out, _ = _mlops("tokens", "list", "--json", *data)
    assert code == 0
    assert token_id in {t["token_id"] for t in json.loads(out)["tokens"]}
    code, out, _ = _mlops("tokens", "list", *data)
    assert code == 0 and "vic" in out

    # A viewer may not manage tokens: one clear line, exit code 1.
    code, out, err = _mlops("tokens", "create", "--role", "admin", "--token", created["token"], *data)
    assert code == 1
    assert "permission denied" in err and "Traceback" not in err + out

    code, out, err = _mlops("tokens", "revoke", token_id, *data)
    assert code == 0, err
    assert token_id in out
    code, _, err = _mlops("tokens", "list", "--token", created["token"], *data)
    assert code == 1 and "not authenticated" in err


def test_cli_errors_are_one_line_without_traceback(tmp_path: Path, gateway_process: GatewayProcess) -> None:
    code, out, err = _mlops("tokens", "list", "--data-dir", str(tmp_path / "nowhere"))
    assert code == 1 and "mlops up" in err and "Traceback" not in err + out
    data = ["--data-dir", str(gateway_process.data_dir)]
    code, _, err = _mlops("tokens", "create", "--role", "emperor", *data)
    assert code == 1 and "unknown role" in err
    code, _, err = _mlops("tokens", "create", "--role", "viewer", "--ttl", "soon", *data)
    assert code == 1 and "--ttl" in err
    closed = f"http://127.0.0.1:{free_port()}"
    code, _, err = _mlops("tokens", "list", "--gateway-url", closed, *data)
    assert code == 1 and "cannot reach the gateway" in err


def test_gateway_stops_gracefully_on_sigterm(gateway_process: GatewayProcess) -> None:
    gateway_process.process.send_signal(signal.SIGTERM)
    assert gateway_process.process.wait(15) == 0
    assert "gateway stopped" in gateway_process.log.read_text()
