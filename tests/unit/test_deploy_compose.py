"""compose.yaml and its config files: valid against the Compose Specification schema, and complete.

The schema is the official compose-spec.json as vendored in the `check-jsonschema` wheel (PyPI), so
the test needs no network and no Docker engine.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Collection, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose.yaml"

INFRASTRUCTURE = {"postgres", "nats", "minio", "minio-init", "redis", "otel-collector"}
# Every platform process and the module it runs.
PROCESSES = {
    "gateway": "services.gateway.main",
    "dataset": "services.dataset.main",
    "training": "services.training.main",
    "registry": "services.registry.main",
    "serving": "services.serving.main",
    "training-worker-cpu": "services.training.worker",
    "serving-worker-cpu": "services.serving.worker",
}
GRPC_PORTS = {"dataset": 50051, "training": 50052, "registry": 50053, "serving": 50054}
KERNEL_ENV = {
    "MLOPS_NATS_URL",
    "MLOPS_REDIS_URL",
    "MLOPS_S3__ENDPOINT",
    "MLOPS_S3__ACCESS_KEY",
    "MLOPS_S3__SECRET_KEY",
    "MLOPS_S3__BUCKET",
    "MLOPS_IDENTITY_ADDRESS",
    "MLOPS_SERVICE_TOKEN",
    "MLOPS_OTLP_ENDPOINT",
    "MLOPS_METRICS_PORT",
    "MLOPS_METRICS_HOST",
}
SERVICE_ENV = KERNEL_ENV | {"MLOPS_DATABASE_URL", "MLOPS_GRPC_HOST", "MLOPS_GRPC_PORT"}
WORKER_ENV = KERNEL_ENV | {"MLOPS_WORKER_POOL"}


def compose_spec_schema() -> dict[str, Any]:
    try:
        vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    except ModuleNotFoundError:
        pytest.fail("the Compose Specification schema comes from `pip install check-jsonschema`")
    return dict(json.loads(vendor.joinpath("compose-spec.json").read_text()))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE_FILE.read_text()))


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = compose_spec_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_compose_file_follows_the_compose_specification(
    compose: dict[str, Any], validator: jsonschema.protocols.Validator
) -> None:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_schema_rejects_a_broken_compose_file(
    compose: dict[str, Any], validator: jsonschema.protocols.Validator
) -> None:
    # Guards against a schema that accepts anything (the check above would then prove nothing).
    broken = copy.deepcopy(compose)
    broken["services"]["gateway"]["depends_on"]["postgres"]["condition"] = "service_ready"
    broken["services"]["nats"]["helthcheck"] = {}
    assert len(list(validator.iter_errors(broken))) >= 2


def test_every_platform_process_and_infrastructure_server_has_a_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert INFRASTRUCTURE <= services.keys()
    for name, module in PROCESSES.items():
        assert services[name]["command"] == ["python", "-m", module], name
    for name in ("training-worker-gpu", "serving-worker-gpu"):
        assert services[name]["profiles"] == ["gpu"]
        devices = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["capabilities"] == ["gpu"]


def test_processes_get_the_environment_they_need(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in GRPC_PORTS.keys() | {"gateway"}:
        env = services[name]["environment"]
        assert KERNEL_ENV | {"MLOPS_DATABASE_URL"} <= env.keys(), (name, SERVICE_ENV - env.keys())
        assert env["MLOPS_DATABASE_URL"].startswith("postgresql://")
        assert env["MLOPS_DATABASE_URL"].endswith(f"@postgres:5432/mlops_{name}")
    for name, port in GRPC_PORTS.items():
        env = services[name]["environment"]
        assert SERVICE_ENV <= env.keys(), (name, SERVICE_ENV - env.keys())
        assert env["MLOPS_GRPC_HOST"] == "0.0.0.0"
        assert env["MLOPS_GRPC_PORT"] == str(port)
        assert env["MLOPS_IDENTITY_ADDRESS"] == "gateway:50050"
    gateway = services["gateway"]["environment"]
    assert gateway["MLOPS_HTTP_HOST"] == "0.0.0.0"
    assert gateway["MLOPS_IDENTITY_ADDRESS"] == "0.0.0.0:50050"
    for name, port in GRPC_PORTS.items():
        assert gateway[f"MLOPS_{name.upper()}_ADDRESS"] == f"{name}:{port}"
    assert {"MLOPS_BOOTSTRAP_ADMIN_TOKEN", "MLOPS_BOOTSTRAP_SERVICE_TOKEN"} <= gateway.keys()
    for name in ("training-worker-cpu", "training-worker-gpu", "serving-worker-cpu", "serving-worker-gpu"):
        env = services[name]["environment"]
        assert WORKER_ENV <= env.keys(), (name, WORKER_ENV - env.keys())
        assert env["MLOPS_WORKER_POOL"] == name.rsplit("-", 1)[1]
    for name in ("serving-worker-cpu", "serving-worker-gpu"):
        assert services[name]["environment"]["MLOPS_SERVING_CONTROL_ADDRESS"] == "serving:50054"


def test_one_database_per_service_is_created(compose: dict[str, Any]) -> None:
    init = (ROOT / "deploy/postgres/init-databases.sql").read_text()
    created = set(re.findall(r"CREATE DATABASE (\w+);", init))
    assert created == {f"mlops_{name}" for name in [*GRPC_PORTS, "gateway"]}
    mounts = compose["services"]["postgres"]["volumes"]
    assert any(
        m.startswith("./deploy/postgres/init-databases.sql:/docker-entrypoint-initdb.d/") for m in mounts
    )


def test_depends_on_targets_exist_with_sound_conditions(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for target, spec in service.get("depends_on", {}).items():
            assert target in services, (name, target)
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[target], (name, target)
            if spec["condition"] == "service_completed_successfully":
                assert services[target].get("restart") == "no", (name, target)
            # A GPU-only service would never start under the default profile.
            assert "profiles" not in services[target] or "profiles" in service, (name, target)


def test_bind_mounted_files_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), (name, source)
        build = service.get("build")
        if build:
            assert (ROOT / build["context"] / build["dockerfile"]).is_file()


def test_no_secret_is_committed(compose: dict[str, Any]) -> None:
    secret_names = re.compile(r"(PASSWORD|SECRET_KEY|TOKEN)$")
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if secret_names.search(key):
                # Only a required variable from .env, never a literal or a default value.
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", str(value)), (name, key, value)
    example = (ROOT / "deploy/compose.env.example").read_text()
    assert "replace" in example.lower()


def test_nats_fsyncs_every_write_to_file_storage() -> None:
    config = (ROOT / "deploy/nats.conf").read_text()
    jetstream = re.search(r"jetstream\s*\{(.*?)\}", config, re.S)
    assert jetstream is not None
    assert re.search(r"^\s*sync_interval:\s*always\s*$", jetstream.group(1), re.M)
    assert re.search(r"^\s*store_dir:\s*\S+", jetstream.group(1), re.M)


def test_nats_container_uses_that_config(compose: dict[str, Any]) -> None:
    nats = compose["services"]["nats"]
    assert nats["command"] == ["-c", "/etc/nats/nats.conf"]
    assert "./deploy/nats.conf:/etc/nats/nats.conf:ro" in nats["volumes"]
    assert any(m.endswith(":/data") for m in nats["volumes"])


def test_otel_collector_config_is_consistent() -> None:
    config = yaml.safe_load((ROOT / "deploy/otel-collector.yaml").read_text())
    for pipeline in config["service"]["pipelines"].values():
        assert set(pipeline["receivers"]) <= config["receivers"].keys()
        assert set(pipeline["processors"]) <= config["processors"].keys()
        assert set(pipeline["exporters"]) <= config["exporters"].keys()
    assert config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].endswith(":4317")


def test_dockerfile_builds_one_non_root_image() -> None:
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", dockerfile, re.M)
    assert re.search(r"^ARG TORCH_VARIANT=cpu$", dockerfile, re.M)
    assert re.search(r"^ARG TORCH_VERSION=2\.13\.0$", dockerfile, re.M)
    assert "pip install ." in dockerfile
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), path


# Variables a process is given that its settings do not declare yet, by the module it runs; each is
# ignored (extra="ignore") until the process reads it. Keep this short and explained.
PENDING_ENV: dict[str, set[str]] = {}

# Where each `<target>_address` setting must point; a new address setting needs an entry here.
SERVICE_ADDRESSES = {
    "identity": "gateway:50050",
    **{name: f"{name}:{port}" for name, port in GRPC_PORTS.items()},
    # The serving worker's link to the control plane's WorkerRegistry.
    "serving_control": "serving:50054",
}


def settings_env_names(*settings_classes: type[BaseModel]) -> set[str]:
    """Every MLOPS_* variable pydantic-settings classes read, nested models with "__"."""
    names = set()
    for settings_class in settings_classes:
        for field_name, field in settings_class.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                names |= {f"MLOPS_{field_name.upper()}__{sub.upper()}" for sub in annotation.model_fields}
            else:
                names.add(f"MLOPS_{field_name.upper()}")
    return names


def process_settings() -> dict[str, tuple[type[BaseModel], ...]]:
    """The settings classes each kind of process reads, by the module it runs."""
    from services.dataset.settings import DatasetSettings
    from services.gateway.settings import GatewaySettings
    from services.registry.settings import RegistrySettings
    from services.serving.settings import ServingSettings
    from services.serving.worker.settings import ServingWorkerSettings
    from services.training.execution import ExecutionSettings
    from services.training.settings import TrainingSettings
    from services.training.worker import TrainingWorkerSettings

    return {
        "services.gateway.main": (GatewaySettings,),
        "services.dataset.main": (DatasetSettings,),
        "services.training.main": (TrainingSettings,),
        "services.registry.main": (RegistrySettings,),
        "services.serving.main": (ServingSettings,),
        # The worker process itself, and each run it executes (services/training/execution.py).
        "services.training.worker": (TrainingWorkerSettings, ExecutionSettings),
        "services.serving.worker": (ServingWorkerSettings,),
    }


def read_by_some_process() -> set[str]:
    return set().union(*(settings_env_names(*classes) for classes in process_settings().values()))


def unknown_env(module: str, env_names: set[str]) -> set[str]:
    known = settings_env_names(*process_settings()[module])
    return {n for n in env_names if n.startswith("MLOPS_")} - known - PENDING_ENV.get(module, set())


def address_errors(module: str, env: Mapping[str, Any], *, binds: Collection[str] = ()) -> list[str]:
    """Every address setting the process reads is set, to its service's name and port.

    `binds`: address settings the process listens on instead of dialling (the gateway's identity).
    """
    errors = []
    for field_name in sorted(settings_env_names(*process_settings()[module])):
        if not field_name.endswith("_ADDRESS") or field_name in binds:
            continue
        target = field_name.removeprefix("MLOPS_").removesuffix("_ADDRESS").lower()
        if target not in SERVICE_ADDRESSES:
            errors.append(f"{field_name}: no known service; add it to SERVICE_ADDRESSES")
        elif env.get(field_name) != SERVICE_ADDRESSES[target]:
            errors.append(f"{field_name}={env.get(field_name)!r}, want {SERVICE_ADDRESSES[target]!r}")
    return errors


def test_every_variable_set_is_a_setting_the_process_reads(compose: dict[str, Any]) -> None:
    # A misspelt variable is silently ignored by pydantic-settings; catch it here instead. The shared
    # block reaches every process, so each of its keys must be read by at least one of them; what a
    # service adds or overrides must be read by that service's process.
    shared = compose["x-platform-env"]
    assert set(shared) - read_by_some_process() == set()
    for name, service in compose["services"].items():
        command = service.get("command", [])
        if command[:2] != ["python", "-m"]:
            continue
        env = service["environment"]
        own = {k for k, v in env.items() if k not in shared or shared[k] != v}
        assert unknown_env(command[2], own) == set(), name


def test_pending_variables_are_not_read_yet() -> None:
    # Once a settings class declares a pending variable, it leaves PENDING_ENV.
    for module, names in PENDING_ENV.items():
        assert names & settings_env_names(*process_settings()[module]) == set(), module


def test_every_address_a_process_dials_points_at_its_service(compose: dict[str, Any]) -> None:
    shared = compose["x-platform-env"]
    for name, address in SERVICE_ADDRESSES.items():
        if name != "serving_control":
            assert shared[f"MLOPS_{name.upper()}_ADDRESS"] == address
    for name, service in compose["services"].items():
        command = service.get("command", [])
        if command[:2] != ["python", "-m"]:
            continue
        assert shared.keys() <= service["environment"].keys(), name
        binds = {"MLOPS_IDENTITY_ADDRESS"} if name == "gateway" else set()
        assert address_errors(command[2], service["environment"], binds=binds) == [], name
