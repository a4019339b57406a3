"""Assigned bundles as the registry records them: an object at `s3://<bucket>/<key>` (a run's bundle),
fetched and checked against the SHA-256 it was stored with."""

from __future__ import annotations

import pytest

from mlops.algorithms.external import external_bundle
from mlops.api.common.v1 import common_pb2
from mlops.api.serving.v1 import serving_pb2 as pb
from mlops.kernel.errors import FailedPrecondition
from mlops.kernel.objectstore import ObjectStore
from services.serving.worker.bundles import BundleSource
from services.serving.worker.control import spec_from_assignment
from tests.registry.builders import tiny_onnx, tiny_signature


async def test_a_runs_bundle_is_fetched_by_its_uri(object_store: ObjectStore) -> None:
    archive = external_bundle(tiny_onnx(), tiny_signature()).to_zip()
    info = await object_store.put_object("runs/r1/bundle.zip", archive, media_type="application/zip")
    uri = f"s3://{object_store.bucket}/{info.key}"
    assignment = pb.ReplicaAssignment(
        deployment="fraud", revision=2, bundle=common_pb2.ArtifactRef(uri=uri, sha256=info.sha256 or "")
    )
    spec = spec_from_assignment(assignment, device="cpu")
    assert spec.bundle == uri and (spec.name, spec.version) == ("fraud", "2")
    bundle = await BundleSource(object_store).fetch(spec.bundle)
    assert [t.name for t in bundle.signature.inputs] == ["x"]

    with pytest.raises(FailedPrecondition, match="outside"):
        await BundleSource(object_store).fetch("s3://elsewhere/runs/r1/bundle.zip")
    with pytest.raises(FailedPrecondition, match="no object store"):
        await BundleSource().fetch(uri)
    blob_only = pb.ReplicaAssignment(deployment="fraud", bundle=common_pb2.ArtifactRef(sha256="ab" * 32))
    assert spec_from_assignment(blob_only, device="cpu").bundle == f"blob:{'ab' * 32}"
