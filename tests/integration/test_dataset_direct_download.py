"""Direct downloads: the client builds DownloadVersion's archive itself from presigned S3 URLs."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import os
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from typer.testing import CliRunner

from mlops.api.common.v1 import common_pb2
from mlops.api.dataset.v1 import dataset_pb2 as pb
from mlops.api.dataset.v1 import dataset_pb2_grpc
from mlops.cli.dataset_download import DownloadRefused, PlanMismatch, plan_pages, write_plan_archive
from mlops.cli.main import app
from mlops.datasets.archive import ArchiveFormat
from mlops.datasets.checksum import Verification
from mlops.kernel.auth import Permission
from mlops.kernel.grpcx.client import open_channel
from mlops.kernel.objectstore import BlobCorrupted, blob_key
from mlops.stack.servers import NatsServer
from mlops.stack.stackfile import StackInfo
from services.dataset.permissions import PERMISSIONS
from services.dataset.store import SqlDatasetStore
from services.dataset.store.tables import blob_checksums
from tests.fixtures.infra import fresh_postgres_database
from tests.fixtures.s3 import S3Endpoint, unique_bucket
from tests.integration.test_dataset_api import (
    Running,
    archive_members,
    create,
    download,
    start_dataset_service,
    upload_parts,
)
from tests.integration.test_grpc_auth import ADMIN

LOGS = common_pb2.SCENARIO_LOG_CLUSTERING
FILE = pb.UPLOAD_FORMAT_FILE
FORMATS: dict[int, ArchiveFormat] = {
    pb.ARCHIVE_FORMAT_TAR_GZ: ArchiveFormat.TAR_GZ,
    pb.ARCHIVE_FORMAT_ZIP: ArchiveFormat.ZIP,
}


@pytest.fixture
async def service(tmp_path: Path, nats_server: NatsServer, s3_server: S3Endpoint) -> AsyncIterator[Running]:
    # Uploads of 4 or more new small blobs (<= 64 KiB) go into packs: those blobs are read back by range.
    async for started in start_dataset_service(tmp_path, nats_server, s3_server, pack_min_blobs=4):
        yield started


@pytest.fixture(params=["sqlite", "postgresql-en-US"])
async def service_on_each_database(
    request: pytest.FixtureRequest, tmp_path: Path, nats_server: NatsServer, s3_server: S3Endpoint
) -> AsyncIterator[Running]:
    """On SQLite, and on PostgreSQL with an English collation ("a" < "B" < "_c" there)."""
    with contextlib.ExitStack() as stack:
        url = f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"
        if request.param != "sqlite":
            url = stack.enter_context(fresh_postgres_database(icu_locale="en-US"))
        async for started in start_dataset_service(tmp_path, nats_server, s3_server, database_url=url):
            yield started


def _contents() -> dict[str, bytes]:
    lines = b"".join(b"2026-11-23 12:00:%02d INFO served in 12 ms\n" % (n % 60) for n in range(20_000))
    return {
        "logs/a.txt": lines,
        "noise.bin": base64.b64encode(os.urandom(300_000)),
        "c.txt": lines[:1000],
        "e.txt": b"x",
        "d.txt": lines[:5000],
        "f.txt": lines[:200],
    }


async def _published(stub: dataset_pb2_grpc.DatasetServiceStub, contents: dict[str, bytes]) -> str:
    dataset = await create(stub, scenario=LOGS)
    files: list[tuple[str, int, bytes]] = [(name, FILE, data) for name, data in contents.items()]
    await stub.UploadSamples(iter(upload_parts(dataset.id, files)))
    await stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id))
    return dataset.id


async def _plan(
    stub: dataset_pb2_grpc.DatasetServiceStub, dataset_id: str, **fields: int
) -> pb.VersionDownloadPlan:
    return await stub.GetVersionDownloadPlan(
        pb.GetVersionDownloadPlanRequest(dataset_id=dataset_id, number=1, **fields)
    )


def _write_and_read(
    plan: pb.VersionDownloadPlan, fmt: int, output: Path, verification: Verification
) -> bytes:
    write_plan_archive([plan], FORMATS[fmt], output, verification=verification)
    return output.read_bytes()


def _paged_download(service: Running, dataset_id: str, fmt: int, output: Path, page_size: int) -> list[str]:
    """The archive written from a plan fetched page by page as the readers reach each (as the CLI
    does); returns the page tokens asked for, in order."""
    asked: list[str] = []
    metadata = (("authorization", f"Bearer {ADMIN}"),)
    with grpc.insecure_channel(f"127.0.0.1:{service.runtime.port}") as channel:
        stub = dataset_pb2_grpc.DatasetServiceStub(channel)

        def fetch(token: str) -> pb.VersionDownloadPlan:
            asked.append(token)
            page = common_pb2.PageRequest(page_size=page_size, page_token=token)
            request = pb.GetVersionDownloadPlanRequest(dataset_id=dataset_id, number=1, page=page)
            return stub.GetVersionDownloadPlan(request, metadata=metadata, timeout=30)  # type: ignore[no-any-return]

        write_plan_archive(plan_pages(fetch), FORMATS[fmt], output, parallel_reads=2)
    return asked


async def _direct(
    plan: pb.VersionDownloadPlan, fmt: int, output: Path, verification: Verification = Verification.CRC32
) -> bytes:
    return await asyncio.to_thread(_write_and_read, plan, fmt, output, verification)


async def _forget_checksums(service: Running) -> None:
    """As for blobs stored before CRC-32s were recorded (migration ds0004)."""
    assert service.runtime.db is not None
    async with SqlDatasetStore(service.runtime.db).unit() as uow:
        await uow.session.execute(blob_checksums.delete())


async def _tamper(service: Running, digest: str, size: int) -> None:
    tampered = b"x" * size
    blobs = service.blobs
    await asyncio.to_thread(
        blobs.client.put_object, blobs.bucket, blob_key(digest), io.BytesIO(tampered), len(tampered)
    )


async def _left_behind(output: Path) -> list[Path]:
    """The archive or its partial file, if a failed download left either."""
    candidates = (output, output.with_name(output.name + ".part"))
    return await asyncio.to_thread(lambda: [path for path in candidates if path.exists()])


@pytest.mark.parametrize("fmt", list(FORMATS))
async def test_the_direct_archive_equals_the_services(service: Running, tmp_path: Path, fmt: int) -> None:
    contents = _contents()
    dataset_id = await _published(service.stub, contents)
    plan = await _plan(service.stub, dataset_id)
    # The small blobs were uploaded as one pack: the plan reads them by range.
    assert sum(entry.ranged for entry in plan.entries) >= 4
    direct = archive_members(await _direct(plan, fmt, tmp_path / "direct"), fmt)
    through_service = archive_members(await download(service.stub, dataset_id, 1, fmt), fmt)
    assert direct == through_service
    version = await service.stub.GetVersion(pb.GetVersionRequest(dataset_id=dataset_id, number=1))
    assert plan.manifest_digest == version.manifest_digest
    assert {name: direct[f"samples/{name}"] for name in contents} == contents
    # Page by page (two entries each), each page asked for once, in order: the same archive.
    output = tmp_path / "paged"
    tokens = await asyncio.to_thread(_paged_download, service, dataset_id, fmt, output, 2)
    assert len(tokens) == 3 and tokens[0] == "" and len(set(tokens)) == 3
    assert archive_members(await asyncio.to_thread(output.read_bytes), fmt) == through_service
    # Every blob's CRC-32 was recorded at upload: that is what the client checked.
    planned = {entry.sample_name: entry.crc32 for entry in plan.entries if entry.HasField("crc32")}
    assert planned == {name: zlib.crc32(data) for name, data in contents.items()}


async def test_pages_follow_the_manifests_order_on_each_database(
    service_on_each_database: Running, tmp_path: Path
) -> None:
    # Code point order ("B" < "_" < "a" < "é"); a PostgreSQL database's collation may differ.
    names = ["a.txt", "B.txt", "_c.txt", "é.txt", "Z.txt", "b.txt"]
    contents = {name: name.encode() * 50 for name in names}
    service = service_on_each_database
    dataset_id = await _published(service.stub, contents)
    output = tmp_path / "paged.zip"
    tokens = await asyncio.to_thread(_paged_download, service, dataset_id, pb.ARCHIVE_FORMAT_ZIP, output, 4)
    assert len(tokens) == 2
    through_service = await download(service.stub, dataset_id, 1, pb.ARCHIVE_FORMAT_ZIP)
    members = archive_members(await asyncio.to_thread(output.read_bytes), pb.ARCHIVE_FORMAT_ZIP)
    assert members == archive_members(through_service, pb.ARCHIVE_FORMAT_ZIP)
    assert [name.removeprefix("samples/") for name in members][1:] == sorted(names)


@pytest.mark.parametrize(
    ("verification", "check"), [(Verification.CRC32, "CRC-32"), (Verification.SHA256, "SHA-256")]
)
async def test_a_blob_corrupted_in_s3_fails_the_download_and_leaves_no_file(
    service: Running, tmp_path: Path, verification: Verification, check: str
) -> None:
    contents = {"big.txt": base64.b64encode(os.urandom(3 * 1024 * 1024)), "small.txt": b"hello"}
    dataset_id = await _published(service.stub, contents)
    digest = next(entry.sha256 for entry in (await _plan(service.stub, dataset_id)).entries)
    await _tamper(service, digest, len(contents["big.txt"]))
    output = tmp_path / "out.tar.gz"
    with pytest.raises(BlobCorrupted, match=rf"does not match its manifest entry \({check}\)"):
        await _direct(await _plan(service.stub, dataset_id), pb.ARCHIVE_FORMAT_TAR_GZ, output, verification)
    assert await _left_behind(output) == []
    # Through the service too: the stream ends in DATA_LOSS rather than a complete-looking archive.
    with pytest.raises(grpc.aio.AioRpcError) as streamed:
        await download(service.stub, dataset_id, 1, pb.ARCHIVE_FORMAT_TAR_GZ)
    assert streamed.value.code() is grpc.StatusCode.DATA_LOSS


async def test_blobs_without_a_recorded_crc_are_checked_by_sha256(service: Running, tmp_path: Path) -> None:
    contents = {"big.txt": base64.b64encode(os.urandom(2 * 1024 * 1024)), "small.txt": b"hello"}
    dataset_id = await _published(service.stub, contents)
    await _forget_checksums(service)
    plan = await _plan(service.stub, dataset_id)
    assert not any(entry.HasField("crc32") for entry in plan.entries)
    members = archive_members(
        await _direct(plan, pb.ARCHIVE_FORMAT_ZIP, tmp_path / "ok"), pb.ARCHIVE_FORMAT_ZIP
    )
    assert {name: members[f"samples/{name}"] for name in contents} == contents
    await _tamper(service, plan.entries[0].sha256, len(contents["big.txt"]))
    with pytest.raises(BlobCorrupted, match=r"\(SHA-256\)"):
        await _direct(plan, pb.ARCHIVE_FORMAT_ZIP, tmp_path / "bad")


async def test_an_expired_url_fails_clearly(service: Running, tmp_path: Path) -> None:
    dataset_id = await _published(service.stub, {"a.txt": b"a" * 1000})
    plan = await _plan(service.stub, dataset_id, expires_seconds=1)
    await asyncio.sleep(2.5)
    output = tmp_path / "out.zip"
    with pytest.raises(DownloadRefused, match=r"HTTP 403.*expired"):
        await _direct(plan, pb.ARCHIVE_FORMAT_ZIP, output)
    assert await _left_behind(output) == []


async def test_plans_are_refused_without_read_access_and_for_unknown_versions(service: Running) -> None:
    assert PERMISSIONS["/mlops.dataset.v1.DatasetService/GetVersionDownloadPlan"] is Permission.DATASET_READ
    dataset_id = await _published(service.stub, {"a.txt": b"a"})
    address = f"127.0.0.1:{service.runtime.port}"
    async with open_channel(address, token="mlops_unknown_token") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _plan(dataset_pb2_grpc.DatasetServiceStub(channel), dataset_id)
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await service.stub.GetVersionDownloadPlan(
            pb.GetVersionDownloadPlanRequest(dataset_id=dataset_id, number=7)
        )
    assert unknown.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as too_long:
        await _plan(service.stub, dataset_id, expires_seconds=7200)
    assert too_long.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    for page in (
        common_pb2.PageRequest(page_size=5001),
        common_pb2.PageRequest(page_size=-1),
        common_pb2.PageRequest(page_token="%%not-a-token"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as bad_page:
            await service.stub.GetVersionDownloadPlan(
                pb.GetVersionDownloadPlanRequest(dataset_id=dataset_id, number=1, page=page)
            )
        assert bad_page.value.code() is grpc.StatusCode.INVALID_ARGUMENT, page


async def test_a_plan_that_is_not_the_manifest_is_refused(service: Running, tmp_path: Path) -> None:
    contents = {"a.txt": b"a" * 100, "b.txt": b"b" * 100, "c.txt": b"c" * 100}
    dataset_id = await _published(service.stub, contents)
    plan = await _plan(service.stub, dataset_id)
    short = pb.VersionDownloadPlan()
    short.CopyFrom(plan)
    del short.entries[1]
    with pytest.raises(PlanMismatch, match=r"'c\.txt' is not the manifest's sample 2"):
        await _direct(short, pb.ARCHIVE_FORMAT_ZIP, tmp_path / "short.zip")
    del short.entries[1:]
    with pytest.raises(PlanMismatch, match="ended after 1 of the manifest's 3 samples"):
        await _direct(short, pb.ARCHIVE_FORMAT_ZIP, tmp_path / "shorter.zip")
    assert await _left_behind(tmp_path / "short.zip") == await _left_behind(tmp_path / "shorter.zip") == []


async def _cli_download(service: Running, tmp_path: Path, dataset_id: str, *flags: str) -> tuple[int, str]:
    data_dir = tmp_path / "cli"
    data_dir.mkdir(exist_ok=True)
    StackInfo(data_dir=str(data_dir), endpoints={"dataset": f"127.0.0.1:{service.runtime.port}"}).save()
    output = tmp_path / "v1.zip"
    args = ["datasets", "download", dataset_id, "1", "-o", str(output), "--format", "zip", *flags]
    result = await asyncio.to_thread(
        CliRunner().invoke, app, [*args, "--data-dir", str(data_dir), "--token", ADMIN]
    )
    return result.exit_code, result.output


async def _cli_archive(tmp_path: Path) -> dict[str, bytes]:
    data = await asyncio.to_thread((tmp_path / "v1.zip").read_bytes)
    return archive_members(data, pb.ARCHIVE_FORMAT_ZIP)


async def test_the_cli_downloads_directly(service: Running, tmp_path: Path) -> None:
    contents = _contents()
    dataset_id = await _published(service.stub, contents)
    for flags in ((), ("--direct",), ("--direct", "--verify", "sha256"), ("--through-service",)):
        code, output = await _cli_download(service, tmp_path, dataset_id, *flags)
        assert code == 0, output
        assert "Wrote" in output and "not reachable" not in output
        members = await _cli_archive(tmp_path)
        assert {name: members[f"samples/{name}"] for name in contents} == contents
    flags = ("--through-service", "--verify", "crc32")
    code, output = await _cli_download(service, tmp_path, dataset_id, *flags)
    assert code == 1 and "--verify applies to reads from S3" in output


async def test_the_cli_streams_through_the_service_when_s3_is_out_of_reach(
    tmp_path: Path, nats_server: NatsServer, s3_server: S3Endpoint
) -> None:
    # URLs signed for an address where nothing listens, as from a laptop outside the cluster.
    s3 = s3_server.settings(unique_bucket()).model_copy(update={"public_endpoint": "127.0.0.1:9"})
    async for service in start_dataset_service(tmp_path, nats_server, s3_server, s3_settings=s3):
        contents = {"a.txt": b"a" * 1000, "b.txt": b"b" * 2000}
        dataset_id = await _published(service.stub, contents)
        code, output = await _cli_download(service, tmp_path, dataset_id)
        assert code == 0, output
        assert "S3 at 127.0.0.1:9 is not reachable from here" in output and "streams the archive" in output
        members = await _cli_archive(tmp_path)
        assert {name: members[f"samples/{name}"] for name in contents} == contents
        code, output = await _cli_download(service, tmp_path, dataset_id, "--direct")
        assert code == 1 and "S3 at 127.0.0.1:9 is not reachable from here" in output
