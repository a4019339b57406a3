"""What `mlops up` will run: every component's command, environment, endpoint and probe.

Ports come from the previous run's stack.json when still free (so clients keep working), else the
conventional port, else any free one. External parts are probed, never started.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from mlops.stack.ports import pick_port
from mlops.stack.servers import NatsServer, RedisServer, SeaweedS3Server
from mlops.stack.settings import StackSettings
from mlops.stack.stackfile import DEFAULT_PORTS, StackInfo

HOST = "127.0.0.1"
# Start order: a stage starts once the one before it is healthy.
INFRASTRUCTURE, GATEWAY, PLATFORM = 0, 1, 2
SERVICES = ("dataset", "training", "registry", "serving")
TRAINING_WORKER_ID = "embedded-cpu-1"


@dataclass
class ComponentSpec:
    name: str
    stage: int
    endpoint: str
    probe: str
    command: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    metrics: str = ""
    # Used while starting, when `probe` cannot pass yet (the gateway's /healthz needs the services).
    startup_probe: str = ""
    # Reached, not run: the user pointed the stack at an existing server.
    external: bool = False


@dataclass(frozen=True)
class S3Access:
    endpoint: str
    access_key: str
    secret_key: str
    bucket: str


@dataclass
class StackPlan:
    data_dir: Path
    components: list[ComponentSpec]
    info: StackInfo
    s3: S3Access
    # service -> URL handed to it; PostgreSQL ones are created before the services start.
    database_urls: dict[str, str]
    postgres_admin_url: str = ""

    def stage(self, stage: int) -> list[ComponentSpec]:
        return [c for c in self.components if c.stage == stage]


def allocate_ports(names: list[str], previous: dict[str, int]) -> dict[str, int]:
    taken: set[int] = set()
    ports: dict[str, int] = {}
    for name in names:
        remembered = previous.get(name, 0)
        if remembered:
            port = pick_port(remembered, taken)
            if port != remembered:
                # Taken since last time: the conventional port is the next best guess for clients.
                taken.discard(port)
                port = pick_port(DEFAULT_PORTS.get(name, 0), taken)
        else:
            port = pick_port(DEFAULT_PORTS.get(name, 0), taken)
        ports[name] = port
    return ports


def embedded_s3_credentials(data_dir: Path) -> tuple[str, str]:
    """Keys made on first start and kept (0600) in the data directory."""
    path = data_dir / "s3.credentials.json"
    if path.exists():
        saved = json.loads(path.read_text())
        return str(saved["access_key"]), str(saved["secret_key"])
    access_key, secret_key = "mlops", secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"access_key": access_key, "secret_key": secret_key}, out)
    return access_key, secret_key


def postgres_database_url(server_url: str, database: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _host_port(url: str) -> str:
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    return f"{parts.hostname}:{parts.port}"


def _python(module: str) -> list[str]:
    return [sys.executable, "-m", module]


def plan_stack(settings: StackSettings, previous: StackInfo | None = None) -> StackPlan:
    data_dir = settings.resolved_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    for server_dir in ("nats", "s3", "redis", "logs"):
        (data_dir / server_dir).mkdir(exist_ok=True)
    skipped = settings.skipped()
    wanted = [
        "gateway",
        "identity",
        "gateway_metrics",
        "inference_rest",
        "inference_grpc",
        "inference_metrics",
    ]
    wanted += [name for svc in SERVICES for name in (svc, f"{svc}_metrics")]
    if not settings.nats_url:
        wanted += ["nats", "nats_monitor"]
    if not settings.s3_endpoint:
        wanted.append("s3")
    if not settings.redis_url:
        wanted.append("redis")
    ports = allocate_ports(wanted, previous.ports if previous else {})
    components: list[ComponentSpec] = []

    if settings.nats_url:
        nats_url = settings.nats_url
        components.append(
            ComponentSpec("nats", INFRASTRUCTURE, nats_url, f"tcp:{_host_port(nats_url)}", external=True)
        )
    else:
        nats = NatsServer(data_dir=data_dir / "nats", port=ports["nats"], monitor_port=ports["nats_monitor"])
        nats_url = nats.url
        components.append(
            ComponentSpec(
                "nats",
                INFRASTRUCTURE,
                nats_url,
                f"http:http://{HOST}:{ports['nats_monitor']}/healthz?js-enabled-only=true",
                nats.command(),
            )
        )

    if settings.s3_endpoint:
        s3 = S3Access(
            settings.s3_endpoint,
            settings.s3_access_key,
            settings.s3_secret_key.get_secret_value(),
            settings.s3_bucket,
        )
        components.append(
            ComponentSpec("s3", INFRASTRUCTURE, s3.endpoint, f"tcp:{_host_port(s3.endpoint)}", external=True)
        )
    else:
        access_key, secret_key = embedded_s3_credentials(data_dir)
        weed = SeaweedS3Server(
            data_dir=data_dir / "s3", s3_port=ports["s3"], access_key=access_key, secret_key=secret_key
        )
        s3 = S3Access(weed.endpoint, access_key, secret_key, settings.s3_bucket)
        components.append(
            ComponentSpec("s3", INFRASTRUCTURE, s3.endpoint, f"tcp:{s3.endpoint}", weed.command())
        )

    if settings.redis_url:
        redis_url = settings.redis_url
        components.append(
            ComponentSpec("redis", INFRASTRUCTURE, redis_url, f"redis:{redis_url}", external=True)
        )
    else:
        redis_server = RedisServer(data_dir=data_dir / "redis", port=ports["redis"])
        redis_url = redis_server.url
        components.append(
            ComponentSpec("redis", INFRASTRUCTURE, redis_url, f"redis:{redis_url}", redis_server.command())
        )

    database_urls: dict[str, str] = {}
    for service in ("gateway", *SERVICES):
        if settings.postgres_url:
            database_urls[service] = postgres_database_url(settings.postgres_url, f"mlops_{service}")
        else:
            # Empty: the service makes its SQLite file, <data dir>/<service>.db.
            database_urls[service] = ""

    identity_address = f"{HOST}:{ports['identity']}"
    common = {
        "PYTHONUNBUFFERED": "1",
        "MLOPS_DATA_DIR": str(data_dir),
        "MLOPS_NATS_URL": nats_url,
        "MLOPS_REDIS_URL": redis_url,
        "MLOPS_S3__ENDPOINT": s3.endpoint,
        "MLOPS_S3__ACCESS_KEY": s3.access_key,
        "MLOPS_S3__SECRET_KEY": s3.secret_key,
        "MLOPS_S3__BUCKET": s3.bucket,
        "MLOPS_IDENTITY_ADDRESS": identity_address,
        # Every process can reach every service (training asks dataset, registry asks training, ...).
        **{f"MLOPS_{svc.upper()}_ADDRESS": f"{HOST}:{ports[svc]}" for svc in SERVICES},
        "MLOPS_LOG_JSON": "true",
    }

    def metrics_url(name: str) -> str:
        return f"http://{HOST}:{ports[f'{name}_metrics']}/metrics"

    gateway_url = f"http://{HOST}:{ports['gateway']}"
    components.append(
        ComponentSpec(
            "gateway",
            GATEWAY,
            gateway_url,
            f"http:{gateway_url}/healthz",
            _python("services.gateway.main"),
            env={
                **common,
                "MLOPS_HTTP_PORT": str(ports["gateway"]),
                "MLOPS_METRICS_PORT": str(ports["gateway_metrics"]),
                "MLOPS_DATABASE_URL": database_urls["gateway"],
            },
            metrics=metrics_url("gateway"),
            startup_probe=f"grpc-health:{identity_address} && tcp:{HOST}:{ports['gateway']}",
        )
    )
    for service in SERVICES:
        address = f"{HOST}:{ports[service]}"
        components.append(
            ComponentSpec(
                service,
                PLATFORM,
                address,
                f"grpc-health:{address}",
                _python(f"services.{service}.main"),
                env={
                    **common,
                    "MLOPS_GRPC_PORT": str(ports[service]),
                    "MLOPS_METRICS_PORT": str(ports[f"{service}_metrics"]),
                    "MLOPS_DATABASE_URL": database_urls[service],
                },
                metrics=metrics_url(service),
            )
        )
    components.append(
        ComponentSpec(
            "training-worker",
            PLATFORM,
            f"queue cpu on {redis_url}",
            f"heartbeat:{redis_url}#mlops:workers:training:{TRAINING_WORKER_ID}",
            _python("services.training.worker"),
            env={**common, "MLOPS_WORKER_POOL": "cpu", "MLOPS_WORKER_ID": TRAINING_WORKER_ID},
        )
    )
    inference_grpc = f"{HOST}:{ports['inference_grpc']}"
    components.append(
        ComponentSpec(
            "serving-worker",
            PLATFORM,
            inference_grpc,
            f"kserve-live:{inference_grpc}",
            _python("services.serving.worker"),
            env={
                **common,
                "MLOPS_INFERENCE_REST_PORT": str(ports["inference_rest"]),
                "MLOPS_INFERENCE_GRPC_PORT": str(ports["inference_grpc"]),
                "MLOPS_INFERENCE_METRICS_PORT": str(ports["inference_metrics"]),
                "MLOPS_WORKER_ID": "embedded-serving-1",
                # Registers with the serving control plane, which assigns it the deployments to host.
                "MLOPS_SERVING_CONTROL_ADDRESS": f"{HOST}:{ports['serving']}",
            },
            metrics=f"http://{HOST}:{ports['inference_metrics']}/metrics",
        )
    )
    components = [c for c in components if c.name not in skipped]

    endpoints = {c.name: c.endpoint for c in components if c.name != "training-worker"}
    endpoints.update(
        {
            "identity": identity_address,
            "inference_rest": f"http://{HOST}:{ports['inference_rest']}",
            "inference_grpc": inference_grpc,
            "inference_metrics": f"http://{HOST}:{ports['inference_metrics']}/metrics",
        }
    )
    endpoints.pop("serving-worker", None)
    if "nats_monitor" in ports:
        endpoints["nats_monitor"] = f"http://{HOST}:{ports['nats_monitor']}"
    info = StackInfo(
        data_dir=str(data_dir),
        console_url=gateway_url,
        admin_token_path=str(data_dir / "admin.token"),
        endpoints=endpoints,
        databases={
            svc: redact(url) if url else f"sqlite:///{data_dir / f'{svc}.db'}"
            for svc, url in database_urls.items()
        },
        ports=ports,
    )
    return StackPlan(data_dir, components, info, s3, database_urls, settings.postgres_url)
