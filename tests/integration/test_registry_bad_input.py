"""The issue's bad input over the wire: uploads that are not ONNX, corrupt, mismatched, pickled, too big or
pointing outside the bundle. (Same-run registration, self-approval, gates, concurrent promotions and
guarded deletes are in test_registry_api.py and test_registry_store.py.)"""

from __future__ import annotations

import pickle
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from mlops.api.registry.v1 import registry_pb2 as pb
from mlops.stack.servers import NatsServer
from tests.fixtures.s3 import S3Endpoint
from tests.registry.builders import external_data_onnx, tiny_onnx, tiny_signature
from tests.registry.harness import SCIENTIST, Registry, create_model, start_registry, upload_parts

LIMIT = 64 * 1024


@pytest.fixture
async def registry(tmp_path: Path, nats_server: NatsServer, s3_server: S3Endpoint) -> AsyncIterator[Registry]:
    async for started in start_registry(tmp_path, nats_server, s3_server, max_upload_bytes=LIMIT):
        yield started


class Exploding:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, ("raise SystemExit('a pickle was loaded')",))


async def _refused(registry: Registry, parts: list[pb.UploadExternalModelRequest]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await registry.stub(SCIENTIST).UploadExternalModel(iter(parts))
    return refused.value


async def test_a_good_upload_becomes_an_external_version(registry: Registry) -> None:
    stub = registry.stub(SCIENTIST)
    model = await create_model(stub)
    version = await stub.UploadExternalModel(iter(upload_parts(model.name, tiny_onnx(), chunk=100)))
    assert version.lineage.external and not version.lineage.run_id and version.algorithm_id == "external-onnx"
    assert version.bundle.uri.startswith(f"s3://{registry.blobs.bucket}/blobs/sha256/")
    assert await registry.blobs.blob_exists(version.bundle.sha256)
    card = await stub.GetModelCard(pb.GetModelVersionRequest(model=model.name, number=version.number))
    assert "no training lineage" in card.markdown


# One service for every refused format: starting one per case would dominate the module's time.
REFUSED = [
    ("pickle4", pickle.dumps(Exploding(), protocol=4), "pickle"),
    ("pickle0", pickle.dumps(Exploding(), protocol=0), "pickle"),
    ("zip", b"PK\x03\x04" + b"\0" * 100, "zip"),
    ("text", b"hello, I am a CSV,1,2,3\n", "not an ONNX"),
    ("corrupt", tiny_onnx()[:-20], "ONNX"),
    ("dotdot", external_data_onnx("../../../etc/passwd"), "outside the bundle"),
    ("absolute", external_data_onnx("/etc/passwd"), "absolute"),
    ("sibling", external_data_onnx("weights.bin"), "cannot carry"),
]


async def test_non_onnx_or_unsafe_uploads_are_refused(registry: Registry) -> None:
    stub = registry.stub(SCIENTIST)
    model = await create_model(stub)
    for case, payload, match in REFUSED:
        error = await _refused(registry, upload_parts(model.name, payload))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, case
        assert match in (error.details() or ""), (case, error.details())
    versions = await stub.ListModelVersions(pb.ListModelVersionsRequest(model=model.name))
    assert not versions.versions


async def test_a_signature_mismatch_is_refused(registry: Registry) -> None:
    model = await create_model(registry.stub(SCIENTIST))
    error = await _refused(registry, upload_parts(model.name, tiny_onnx(), tiny_signature(width=5)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "shape" in (error.details() or "")


async def test_uploads_past_the_size_limit_are_refused(registry: Registry) -> None:
    model = await create_model(registry.stub(SCIENTIST))
    error = await _refused(registry, upload_parts(model.name, b"\x08" + b"\0" * (LIMIT + 1), chunk=16 * 1024))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    spool = registry.runtime.registry_settings.data_dir / "spool"
    assert not list(spool.glob("upload-*"))


async def test_the_declaration_comes_first(registry: Registry) -> None:
    error = await _refused(registry, [pb.UploadExternalModelRequest(chunk=tiny_onnx())])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
