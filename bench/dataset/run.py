"""Dataset service benchmarks, in one run against one SeaweedFS (see bench/dataset/README.md).

1. Ingest N small PNGs (~2 KB) and publish: samples/s; DVC (`dvc add` + `dvc push`) as the peer.
2. Change 1% of the samples and publish again: time and bytes written against the first publish.
3. Download a large version: throughput against reading the same blobs straight from S3, and the
   growth of this process's peak RSS while it serves the download (the service runs in-process).

    .venv/bin/python -m bench.dataset.run --samples 10000 --download-mb 1024 --dvc /tmp/dvcvenv/bin/dvc
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import random
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
from pydantic import SecretStr

from mlops.api.common.v1 import common_pb2
from mlops.api.dataset.v1 import dataset_pb2 as pb
from mlops.api.dataset.v1 import dataset_pb2_grpc
from mlops.kernel.auth import Principal, Role
from mlops.kernel.objectstore import ObjectStore
from mlops.kernel.runtime import ServiceRuntime
from mlops.kernel.settings import S3Settings
from mlops.stack.servers import SeaweedS3Server
from services.dataset.api import register
from services.dataset.main import MIGRATIONS
from services.dataset.permissions import PERMISSIONS
from services.dataset.settings import DatasetSettings

log = logging.getLogger("bench.dataset")
MiB = 1024 * 1024


def s3_settings(server: SeaweedS3Server, bucket: str) -> S3Settings:
    return S3Settings(
        endpoint=server.endpoint,
        access_key=server.access_key,
        secret_key=SecretStr(server.secret_key),
        bucket=bucket,
    )


class BenchVerifier:
    """Every token is the bench's admin: the identity service is not what is measured."""

    async def verify(self, token: str) -> Principal | None:
        return Principal(subject="bench", role=Role.ADMIN, token_id="bench")


def noisy_png(rng: random.Random, side: int = 24) -> bytes:
    """A ~2 KB PNG of noise (noise does not compress, so the size is what the side says)."""
    rows = b"".join(b"\x00" + rng.randbytes(side * 3) for _ in range(side))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def write_images(folder: Path, count: int, seed: int) -> list[Path]:
    rng = random.Random(seed)
    paths = []
    for n in range(count):
        path = folder / ("cat" if n % 2 else "dog") / f"img-{n:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(noisy_png(rng))
        paths.append(path)
    return paths


def upload_parts(dataset_id: str, files: list[Path], root: Path) -> Iterator[pb.UploadSamplesRequest]:
    """One stream, a header per file: what `mlops datasets upload DATASET <files...>` sends."""
    for index, path in enumerate(files):
        header = pb.UploadHeader(
            dataset_id=dataset_id,
            format=pb.UPLOAD_FORMAT_FILE,
            file_name=str(path.relative_to(root)),
            default_annotation=pb.Annotation(label=path.parent.name),
        )
        yield (
            pb.UploadSamplesRequest(header=header)
            if index == 0
            else pb.UploadSamplesRequest(next_file=header)
        )
        yield pb.UploadSamplesRequest(chunk=path.read_bytes())


async def bucket_bytes(store: ObjectStore) -> int:
    return sum([info.size async for info in store.iter_objects("")])


async def ours_ingest(stub: Any, store: ObjectStore, images: Path, files: list[Path]) -> dict[str, Any]:
    dataset = await stub.CreateDataset(
        pb.CreateDatasetRequest(name="bench-images", scenario=common_pb2.SCENARIO_IMAGE_CLASSIFICATION)
    )
    started = time.perf_counter()
    uploaded = await stub.UploadSamples(upload_parts(dataset.id, files, images))
    upload_s = time.perf_counter() - started
    v1 = await stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id, message="first"))
    first_s = time.perf_counter() - started
    first_bytes = await bucket_bytes(store)
    # 1%: new contents for the first 1% of the files.
    changed = files[: max(1, len(files) // 100)]
    rng = random.Random(99)
    for path in changed:
        path.write_bytes(noisy_png(rng))
    names = {str(p.relative_to(images)) for p in changed}
    ids = []
    token = ""
    while True:
        page = await stub.ListSamples(
            pb.ListSamplesRequest(
                dataset_id=dataset.id, page=common_pb2.PageRequest(page_size=1000, page_token=token)
            )
        )
        ids += [s.id for s in page.samples if s.name in names]
        token = page.page.next_page_token
        if not token:
            break
    started = time.perf_counter()
    for sample_id in ids:
        await stub.DeleteSample(pb.DeleteSampleRequest(dataset_id=dataset.id, sample_id=sample_id))
    await stub.UploadSamples(upload_parts(dataset.id, changed, images))
    v2 = await stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id, message="1% changed"))
    second_s = time.perf_counter() - started
    second_bytes = await bucket_bytes(store) - first_bytes
    return {
        "samples": uploaded.samples_added,
        "upload_s": round(upload_s, 2),
        "first_publish_s": round(first_s, 2),
        "samples_per_s": round(len(files) / first_s, 1),
        "first_bytes": first_bytes,
        "second_publish_s": round(second_s, 2),
        "second_bytes": second_bytes,
        "second_time_pct": round(100 * second_s / first_s, 2),
        "second_bytes_pct": round(100 * second_bytes / first_bytes, 2),
        "versions": [v1.number, v2.number],
    }


def dvc(dvc_bin: str, repo: Path, *args: str) -> None:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "DVC_SITE_CACHE_DIR": str(repo / ".site-cache")}
    subprocess.run([dvc_bin, *args], cwd=repo, env=env, check=True, capture_output=True)


async def dvc_ingest(
    dvc_bin: str, s3: SeaweedS3Server, workdir: Path, images: Path, count: int
) -> dict[str, Any]:
    repo = workdir / "dvc-repo"
    repo.mkdir()
    store = ObjectStore(s3_settings(s3, "dvc"))
    await store.ensure_bucket()
    dvc(dvc_bin, repo, "init", "--no-scm")
    dvc(dvc_bin, repo, "remote", "add", "-d", "store", "s3://dvc/cache")
    dvc(dvc_bin, repo, "remote", "modify", "store", "endpointurl", f"http://{s3.endpoint}")
    dvc(dvc_bin, repo, "remote", "modify", "--local", "store", "access_key_id", s3.access_key)
    dvc(dvc_bin, repo, "remote", "modify", "--local", "store", "secret_access_key", s3.secret_key)
    files = write_images(repo / "images", count, seed=1)
    started = time.perf_counter()
    dvc(dvc_bin, repo, "add", "images")
    dvc(dvc_bin, repo, "push")
    first_s = time.perf_counter() - started
    first_bytes = await bucket_bytes(store)
    rng = random.Random(99)
    for path in files[: max(1, count // 100)]:
        path.write_bytes(noisy_png(rng))
    started = time.perf_counter()
    dvc(dvc_bin, repo, "add", "images")
    dvc(dvc_bin, repo, "push")
    second_s = time.perf_counter() - started
    second_bytes = await bucket_bytes(store) - first_bytes
    return {
        "first_publish_s": round(first_s, 2),
        "samples_per_s": round(count / first_s, 1),
        "first_bytes": first_bytes,
        "second_publish_s": round(second_s, 2),
        "second_bytes": second_bytes,
    }


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def sample_peak(peak: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], rss_bytes())
        await asyncio.sleep(0.02)


async def download_bench(
    stub: Any, store: ObjectStore, workdir: Path, total_mb: int, level: int
) -> dict[str, Any]:
    """Text samples of 8 MiB (random base64: it compresses like real logs do not, so it is the
    cautious case for gzip's CPU)."""
    dataset = await stub.CreateDataset(
        pb.CreateDatasetRequest(name=f"bench-large-{level}", scenario=common_pb2.SCENARIO_LOG_CLUSTERING)
    )
    size = 8 * MiB
    count = max(1, total_mb * MiB // size)
    folder = workdir / f"large-{level}"
    folder.mkdir()
    files = []
    for n in range(count):
        path = folder / f"part-{n:04d}.txt"
        path.write_bytes(base64.b64encode(os.urandom(size * 3 // 4)))
        files.append(path)

    def parts() -> Iterator[pb.UploadSamplesRequest]:
        for index, path in enumerate(files):
            header = pb.UploadHeader(dataset_id=dataset.id, format=pb.UPLOAD_FORMAT_FILE, file_name=path.name)
            yield (
                pb.UploadSamplesRequest(header=header)
                if index == 0
                else pb.UploadSamplesRequest(next_file=header)
            )
            with path.open("rb") as stream:
                while chunk := stream.read(MiB):
                    yield pb.UploadSamplesRequest(chunk=chunk)

    await stub.UploadSamples(parts())
    version = await stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id))
    shutil.rmtree(folder)
    digests = []
    token = ""
    while True:
        page = await stub.ListSamples(
            pb.ListSamplesRequest(
                dataset_id=dataset.id,
                version=version.number,
                page=common_pb2.PageRequest(page_size=1000, page_token=token),
            )
        )
        digests += [s.content_sha256 for s in page.samples]
        token = page.page.next_page_token
        if not token:
            break
    started = time.perf_counter()
    raw = 0
    for digest in digests:
        async with await store.open_blob(digest) as blob:
            async for chunk in blob:
                raw += len(chunk)
    raw_s = time.perf_counter() - started
    results: dict[str, Any] = {
        "version_bytes": version.total_bytes,
        "raw_s3_mb_s": round(raw / raw_s / MiB, 1),
    }
    for name, fmt in (("tar.gz", pb.ARCHIVE_FORMAT_TAR_GZ), ("zip", pb.ARCHIVE_FORMAT_ZIP)):
        baseline = rss_bytes()
        peak = [baseline]
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_peak(peak, stop))
        started = time.perf_counter()
        received = 0
        async for chunk in stub.DownloadVersion(
            pb.DownloadVersionRequest(dataset_id=dataset.id, number=version.number, format=fmt)
        ):
            received += len(chunk.data)
        elapsed = time.perf_counter() - started
        stop.set()
        await sampler
        results[name] = {
            "archive_bytes": received,
            "s": round(elapsed, 2),
            "content_mb_s": round(version.total_bytes / elapsed / MiB, 1),
            "pct_of_raw_s3": round(100 * (version.total_bytes / elapsed) / (raw / raw_s), 1),
            "rss_growth_mb": round((peak[0] - baseline) / MiB, 1),
        }
    return results


async def running_service(
    workdir: Path, s3: SeaweedS3Server, **overrides: Any
) -> AsyncIterator[tuple[Any, ObjectStore]]:
    settings = DatasetSettings(
        data_dir=workdir / "data",
        grpc_port=0,
        events_enabled=False,
        s3=s3_settings(s3, "datasets"),
        log_level="WARNING",
        **overrides,
    )
    runtime = ServiceRuntime(
        settings, register=register, permissions=PERMISSIONS, migrations=MIGRATIONS, verifier=BenchVerifier()
    )
    await runtime.start()
    try:
        options = [("grpc.max_send_message_length", 64 * MiB), ("grpc.max_receive_message_length", 64 * MiB)]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{runtime.port}", options=options) as channel:
            metadata = (("authorization", "Bearer bench"),)
            stub = _Authorised(dataset_pb2_grpc.DatasetServiceStub(channel), metadata)
            yield stub, ObjectStore(settings.s3)
    finally:
        await runtime.stop()


class _Authorised:
    """The stub with the token metadata on every call."""

    def __init__(self, stub: Any, metadata: Any) -> None:
        self._stub = stub
        self._metadata = metadata

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._stub, name)
        return lambda request, **kw: method(request, metadata=self._metadata, timeout=3600, **kw)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"samples": args.samples}
    with tempfile.TemporaryDirectory(prefix="bench-dataset-", dir=args.workdir) as tmp:
        workdir = Path(tmp)
        s3 = SeaweedS3Server(data_dir=workdir / "s3")
        s3.start(timeout=60)
        try:
            images = workdir / "images"
            files = write_images(images, args.samples, seed=1)
            async for stub, store in running_service(workdir, s3, download_compression_level=args.level):
                log.warning("ingest bench (ours)")
                results["ours"] = await ours_ingest(stub, store, images, files)
                if args.download_mb:
                    log.warning("download bench")
                    results["download"] = await download_bench(
                        stub, store, workdir, args.download_mb, args.level
                    )
            if args.dvc:
                log.warning("ingest bench (dvc)")
                results["dvc"] = await dvc_ingest(args.dvc, s3, workdir, images, args.samples)
                results["speedup_vs_dvc"] = round(
                    results["ours"]["samples_per_s"] / results["dvc"]["samples_per_s"], 2
                )
        finally:
            s3.stop()
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--download-mb", type=int, default=256, help="0 skips the download bench")
    parser.add_argument("--level", type=int, default=1, help="the service's download compression level")
    parser.add_argument("--dvc", default="", help="path of a dvc executable (a separate venv); empty skips")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--out", default="")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    report = asyncio.run(main(arguments))
    text = json.dumps(report, indent=2)
    if arguments.out:
        Path(arguments.out).write_text(text + "\n")
    log.warning("results:\n%s", text)
