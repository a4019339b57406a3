"""`<data dir>/stack.json`: every endpoint the embedded stack actually uses, for clients and tools."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, Field

# Conventional ports, used when free (Triton's for inference).
DEFAULT_PORTS = {
    "gateway": 8080,
    "inference_rest": 8000,
    "inference_grpc": 8001,
    "inference_metrics": 8002,
    "identity": 50050,
    "dataset": 50051,
    "training": 50052,
    "registry": 50053,
    "serving": 50054,
    "nats": 4222,
    "nats_monitor": 8222,
    "s3": 8333,
    "redis": 6379,
    # Prometheus scrape endpoints of the platform's own processes.
    "gateway_metrics": 9100,
    "dataset_metrics": 9101,
    "training_metrics": 9102,
    "registry_metrics": 9103,
    "serving_metrics": 9104,
}


class ComponentInfo(BaseModel):
    name: str
    pid: int | None = None
    status: str = "starting"  # starting | healthy | unhealthy | stopped | external
    detail: str = ""
    endpoint: str = ""
    metrics: str = ""
    # How `mlops status` checks it: "<kind>:<target>" (see mlops.stack.health).
    probe: str = ""
    log: str = ""
    restarts: int = 0


class StackInfo(BaseModel):
    data_dir: str
    supervisor_pid: int | None = None
    # starting | running | failed | stopping | stopped
    state: str = "stopped"
    started_at: str = ""
    console_url: str = ""
    admin_token_path: str = ""
    # name -> address: gRPC services as host:port, HTTP as URLs, infrastructure as their URLs.
    endpoints: dict[str, str] = Field(default_factory=dict)
    databases: dict[str, str] = Field(default_factory=dict)
    # The ports handed out, by DEFAULT_PORTS name: the next `mlops up` asks for the same ones.
    ports: dict[str, int] = Field(default_factory=dict)
    components: dict[str, ComponentInfo] = Field(default_factory=dict)

    @classmethod
    def path_in(cls, data_dir: Path) -> Path:
        return data_dir / "stack.json"

    @classmethod
    def load(cls, data_dir: Path) -> StackInfo | None:
        path = cls.path_in(data_dir)
        if not path.exists():
            return None
        return cls.model_validate_json(path.read_text())

    def save(self) -> None:
        path = self.path_in(Path(self.data_dir))
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.model_dump(), indent=2))
        os.replace(tmp, path)
