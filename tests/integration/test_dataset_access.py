"""Who may do what to datasets, and what the audit log keeps of it: owners and operators delete,
collections across datasets are for operators, and every mutation, streamed uploads included, is
audited with the dataset it touched."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from sqlalchemy import select

from mlops.api.dataset.v1 import dataset_pb2 as pb
from mlops.api.dataset.v1 import dataset_pb2_grpc
from mlops.kernel.grpcx import open_channel
from mlops.kernel.tables import audit_log
from tests.integration.test_dataset_api import Running, create, image_zip, running, upload  # noqa: F401
from tests.integration.test_grpc_auth import SCIENTIST, VIEWER

ARCHIVE = pb.UPLOAD_FORMAT_IMAGE_ARCHIVE
DENIED = grpc.StatusCode.PERMISSION_DENIED


async def _audit_rows(service: Running, action_suffix: str) -> list[Any]:
    assert service.runtime.db is not None
    async with service.runtime.db.transaction() as session:
        rows = await session.execute(select(audit_log).order_by(audit_log.c.seq))
    return [row for row in rows.all() if row.action.endswith(action_suffix)]


async def test_only_owners_and_operators_delete_and_collect(running: Running) -> None:  # noqa: F811
    admin = running.stub  # "ada", an admin: holds dataset:operate
    address = f"127.0.0.1:{running.runtime.port}"
    async with open_channel(address, token=SCIENTIST, default_timeout=30) as channel:
        sam = dataset_pb2_grpc.DatasetServiceStub(channel)
        own = await create(sam)
        await upload(sam, own.id, "a.zip", ARCHIVE, image_zip(2))
        await sam.PublishVersion(pb.PublishVersionRequest(dataset_id=own.id))
        others = await create(admin)
        await upload(admin, others.id, "a.zip", ARCHIVE, image_zip(2, seed=3))
        await admin.PublishVersion(pb.PublishVersionRequest(dataset_id=others.id))
        refusals = (
            sam.DeleteVersion(pb.DeleteVersionRequest(dataset_id=others.id, number=1)),
            sam.DeleteDataset(pb.DeleteDatasetRequest(dataset_id=others.id)),
        )
        for refusal in refusals:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await refusal
            assert refused.value.code() is DENIED
            assert "only the dataset's owner (ada) or a holder of dataset:operate" in (
                refused.value.details() or ""
            )
        with pytest.raises(grpc.aio.AioRpcError) as collecting:
            await sam.CollectGarbage(pb.CollectGarbageRequest(dry_run=True))
        assert collecting.value.code() is DENIED and "dataset:operate" in (collecting.value.details() or "")
        # Owners delete their own; the refused deletes changed nothing.
        await sam.DeleteVersion(pb.DeleteVersionRequest(dataset_id=own.id, number=1))
        await sam.DeleteDataset(pb.DeleteDatasetRequest(dataset_id=own.id))
        assert (await admin.GetVersion(pb.GetVersionRequest(dataset_id=others.id, number=1))).number == 1
    spare = await create(admin)
    await admin.DeleteDataset(pb.DeleteDatasetRequest(dataset_id=spare.id))
    await admin.CollectGarbage(pb.CollectGarbageRequest(dry_run=True))
    deletes = await _audit_rows(running, "/DeleteDataset")
    assert [(r.actor, r.outcome) for r in deletes] == [("sam", "denied"), ("sam", "ok"), ("ada", "ok")]
    assert deletes[0].resource == f"dataset_id={others.id}"


async def test_uploads_are_audited_with_their_dataset(running: Running) -> None:  # noqa: F811
    dataset = await create(running.stub)
    await upload(running.stub, dataset.id, "a.zip", ARCHIVE, image_zip(2))
    with pytest.raises(grpc.aio.AioRpcError):
        await upload(running.stub, dataset.id, "a.zip", ARCHIVE, b"not a zip")
    address = f"127.0.0.1:{running.runtime.port}"
    async with open_channel(address, token=VIEWER, default_timeout=30) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await upload(
                dataset_pb2_grpc.DatasetServiceStub(channel), dataset.id, "a.zip", ARCHIVE, image_zip(1)
            )
    assert refused.value.code() is DENIED
    rows = [
        r
        for r in await _audit_rows(running, "/UploadSamples")
        if dataset.id in r.resource or r.actor == "vera"
    ]
    assert [(r.actor, r.outcome) for r in rows] == [("ada", "ok"), ("ada", "error"), ("vera", "denied")]
    assert all(r.resource.startswith(f"dataset_id={dataset.id}") for r in rows[:2])
    assert rows[1].detail.startswith("INVALID_ARGUMENT")
