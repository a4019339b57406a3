"""Per-method permissions: every rpc of every service is covered, reads and mutations are told apart."""

from __future__ import annotations

import pytest
from google.protobuf.descriptor import FileDescriptor

from mlops.api.audit.v1 import audit_pb2
from mlops.api.dataset.v1 import dataset_pb2
from mlops.api.registry.v1 import registry_pb2
from mlops.api.serving.v1 import serving_pb2
from mlops.api.training.v1 import training_pb2
from mlops.kernel.audit import AUDIT_PERMISSIONS
from mlops.kernel.auth import Permission
from mlops.kernel.grpcx.policy import IDENTITY_PERMISSIONS, MethodPolicy, idempotent_methods
from services.dataset.permissions import PERMISSIONS as DATASET
from services.registry.permissions import PERMISSIONS as REGISTRY
from services.serving.permissions import PERMISSIONS as SERVING
from services.serving.permissions import UNAUDITED as SERVING_UNAUDITED
from services.training.permissions import PERMISSIONS as TRAINING


def _methods(descriptor: FileDescriptor) -> set[str]:
    return {
        f"/{service.full_name}/{method.name}"
        for service in descriptor.services_by_name.values()
        for method in service.methods
    }


@pytest.mark.parametrize(
    ("descriptor", "permissions"),
    [
        (dataset_pb2.DESCRIPTOR, DATASET),
        (training_pb2.DESCRIPTOR, TRAINING),
        (registry_pb2.DESCRIPTOR, REGISTRY),
        (serving_pb2.DESCRIPTOR, SERVING),
        (audit_pb2.DESCRIPTOR, AUDIT_PERMISSIONS),
    ],
    ids=["dataset", "training", "registry", "serving", "audit"],
)
def test_every_rpc_has_a_permission(descriptor: FileDescriptor, permissions: dict[str, Permission]) -> None:
    assert set(permissions) == _methods(descriptor)


def test_reads_and_mutations() -> None:
    policy = MethodPolicy(DATASET)
    assert not policy.is_mutation("/mlops.dataset.v1.DatasetService/GetDataset")
    assert policy.is_mutation("/mlops.dataset.v1.DatasetService/CreateDataset")
    assert not policy.is_mutation("/mlops.dataset.v1.DatasetService/NoSuchMethod")
    assert policy.permission_for("/mlops.dataset.v1.DatasetService/NoSuchMethod") is None


def test_heartbeats_are_authorised_but_not_audited() -> None:
    policy = MethodPolicy(SERVING, SERVING_UNAUDITED)
    heartbeat = "/mlops.serving.v1.WorkerRegistry/Heartbeat"
    assert policy.permission_for(heartbeat) is Permission.SERVING_WORKER
    assert policy.is_mutation(heartbeat)
    assert not policy.is_audited(heartbeat)
    assert policy.is_audited("/mlops.serving.v1.WorkerRegistry/RegisterWorker")


def test_public_methods() -> None:
    policy = MethodPolicy({})
    assert policy.is_public("/grpc.health.v1.Health/Check")
    assert policy.is_public("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
    assert policy.is_public("/mlops.identity.v1.IdentityService/Introspect")
    assert not policy.is_public("/mlops.identity.v1.IdentityService/CreateToken")
    assert not policy.is_public("/mlops.dataset.v1.DatasetService/GetDataset")
    assert set(IDENTITY_PERMISSIONS.values()) == {Permission.TOKENS_MANAGE}


def test_only_reads_are_retried() -> None:
    retried = idempotent_methods(DATASET)
    assert "/mlops.dataset.v1.DatasetService/GetDataset" in retried
    assert "/mlops.dataset.v1.DatasetService/CreateDataset" not in retried
