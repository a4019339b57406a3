"""Port allocation, external parts and the supervisor lock, without starting anything."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from pydantic import SecretStr

from mlops.stack.health import probe
from mlops.stack.lock import StackAlreadyRunning, SupervisorLock, running_supervisor
from mlops.stack.plan import allocate_ports, plan_stack, postgres_database_url, redact
from mlops.stack.ports import free_port
from mlops.stack.settings import StackSettings
from mlops.stack.stackfile import DEFAULT_PORTS, StackInfo


def test_previous_ports_are_reused_when_free() -> None:
    remembered = free_port()
    assert allocate_ports(["gateway"], {"gateway": remembered}) == {"gateway": remembered}


def test_a_taken_port_is_replaced_by_a_free_one() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = allocate_ports(["gateway", "dataset"], {"gateway": taken, "dataset": taken})
    assert taken not in ports.values()
    assert len(set(ports.values())) == 2


def test_the_embedded_plan_has_every_component_and_endpoint(tmp_path: Path) -> None:
    plan = plan_stack(StackSettings(data_dir=tmp_path))
    names = [c.name for c in plan.components]
    assert names == [
        "nats", "s3", "redis", "gateway", "dataset", "training", "registry", "serving",
        "training-worker", "serving-worker",
    ]  # fmt: skip
    assert not any(c.external for c in plan.components)
    assert {"identity", "inference_rest", "inference_grpc", "inference_metrics"} <= set(plan.info.endpoints)
    assert plan.info.console_url == f"http://127.0.0.1:{plan.info.ports['gateway']}"
    assert plan.info.databases["dataset"] == f"sqlite:///{tmp_path.resolve() / 'dataset.db'}"
    # The keys of the embedded S3 server are made once and kept.
    again = plan_stack(StackSettings(data_dir=tmp_path)).s3
    assert (again.access_key, again.secret_key) == (plan.s3.access_key, plan.s3.secret_key)
    assert (tmp_path / "s3.credentials.json").stat().st_mode & 0o777 == 0o600


def test_external_parts_are_probed_not_started(tmp_path: Path) -> None:
    settings = StackSettings(
        data_dir=tmp_path,
        nats_url="nats://10.0.0.5:4222",
        redis_url="redis://10.0.0.6:6379/2",
        s3_endpoint="10.0.0.7:9000",
        s3_access_key="a",
        s3_secret_key=SecretStr("s"),
        postgres_url="postgresql://u:pw@10.0.0.8:5432/postgres",
    )
    plan = plan_stack(settings)
    external = {c.name for c in plan.components if c.external}
    assert external == {"nats", "redis", "s3"}
    assert "nats" not in plan.info.ports and "redis" not in plan.info.ports
    gateway = next(c for c in plan.components if c.name == "gateway")
    assert gateway.env["MLOPS_NATS_URL"] == "nats://10.0.0.5:4222"
    assert gateway.env["MLOPS_S3__ENDPOINT"] == "10.0.0.7:9000"
    assert gateway.env["MLOPS_DATABASE_URL"] == "postgresql://u:pw@10.0.0.8:5432/mlops_gateway"
    assert plan.info.databases["training"] == "postgresql://u:***@10.0.0.8:5432/mlops_training"


def test_skipped_components_are_left_out(tmp_path: Path) -> None:
    plan = plan_stack(StackSettings(data_dir=tmp_path, skip="s3, training-worker"))
    assert {"s3", "training-worker"}.isdisjoint(c.name for c in plan.components)


def test_url_helpers() -> None:
    assert (
        postgres_database_url("postgresql://u@h:5/x?sslmode=off", "mlops_a")
        == "postgresql://u@h:5/mlops_a?sslmode=off"
    )
    assert redact("redis://h:1/0") == "redis://h:1/0"


def test_the_lock_admits_one_supervisor(tmp_path: Path) -> None:
    first = SupervisorLock(tmp_path)
    first.acquire()
    try:
        assert running_supervisor(tmp_path) is not None
        with pytest.raises(StackAlreadyRunning, match="already running"):
            SupervisorLock(tmp_path).acquire()
    finally:
        first.release()
    assert running_supervisor(tmp_path) is None


def test_stack_file_round_trips(tmp_path: Path) -> None:
    info = StackInfo(data_dir=str(tmp_path), ports={"gateway": DEFAULT_PORTS["gateway"]}, state="running")
    info.save()
    assert StackInfo.load(tmp_path) == info


async def test_probes_report_failure_without_raising() -> None:
    port = free_port()
    assert (await probe(f"tcp:127.0.0.1:{port}"))[0] is False
    assert (await probe(f"grpc-health:127.0.0.1:{port}", limit=0.5))[0] is False
    assert (await probe("nonsense:x"))[0] is False
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        assert (await probe(f"tcp:{address}"))[0] is True
        assert (await probe(f"tcp:{address} && tcp:127.0.0.1:{port}"))[0] is False
