"""How a worker turns assignments into routes, and how its host splits a deployment's requests."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import pytest

from mlops.api.serving.v1 import serving_pb2 as pb
from services.serving.inference.types import ModelNotFound
from services.serving.worker.control import hosted_name, routes_of
from services.serving.worker.model_host import OnnxModelHost, Route


def test_assignments_name_canaries_and_shadows_apart() -> None:
    stable = pb.ReplicaAssignment(deployment="fraud", revision=1)
    canary = pb.ReplicaAssignment(deployment="fraud", revision=3, canary_weight=20)
    shadow = pb.ReplicaAssignment(deployment="fraud", revision=4, shadow=True)
    assert [hosted_name(a) for a in (stable, canary, shadow)] == ["fraud", "fraud@r3", "fraud@r4"]
    assert routes_of([stable, canary, shadow]) == {"fraud": Route("fraud@r3", 20, "fraud@r4")}
    assert routes_of([stable]) == {}


def _replica(name: str, version: str) -> Any:
    return SimpleNamespace(spec=SimpleNamespace(name=name, version=version))


def test_host_splits_by_weight_and_falls_back_while_the_canary_is_away() -> None:
    host = OnnxModelHost(pool_threads=1)
    host._replicas = {"fraud": _replica("fraud", "1"), "fraud@r3": _replica("fraud@r3", "3")}
    host.set_routes({"fraud": Route("fraud@r3", 25, "")})
    random.seed(7)
    picked = [host.replica("fraud").spec.version for _ in range(2000)]
    assert 0.2 < picked.count("3") / len(picked) < 0.3
    assert host.replica("fraud", "3").spec.name == "fraud@r3"
    assert host.replica("fraud", "1").spec.name == "fraud"
    assert host.shadow_of("fraud") is None
    del host._replicas["fraud@r3"]
    assert {host.replica("fraud").spec.version for _ in range(50)} == {"1"}
    with pytest.raises(ModelNotFound):
        host.replica("fraud", "3")
    host.executor.shutdown()
