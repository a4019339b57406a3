"""Dataset service benchmarks, in one run against one SeaweedFS (see bench/dataset/README.md).

1. Ingest N small PNGs (~2 KB) and publish: samples/s; DVC (`dvc add` + `dvc push`) as the peer.
2. Change 1% of the samples and publish again: time and bytes written against the first publish.
3. Download a large version: throughput against reading the same blobs straight from S3 with the
   same kind of client process and as many readers as the service reads ahead, the CPU time each
   process spends per GiB (which explains the ratio on a shared machine), and the growth of this
   process's peak RSS while it serves the download (the service runs in-process; the client is
   another process).

    .venv/bin/python -m bench.dataset.run --samples 10000 --download-mb 1024 --dvc /tmp/dvcvenv/bin/dvc
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import logging
import os
import random
import resource
import shutil
import statistics
import struct
import subprocess
import sys
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


def upload_parts(
    dataset_id: str, files: list[Path], root: Path, *, replace: bool = False
) -> Iterator[pb.UploadSamplesRequest]:
    """One stream, a header per file: what `mlops datasets upload [--replace] DATASET <files...>` sends."""
    for index, path in enumerate(files):
        header = pb.UploadHeader(
            dataset_id=dataset_id,
            format=pb.UPLOAD_FORMAT_FILE,
            file_name=str(path.relative_to(root)),
            default_annotation=pb.Annotation(label=path.parent.name),
            replace_existing=replace,
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
    # CPU seconds of this process (the service and its client; not SeaweedFS): less moved by the
    # shared machine's load than wall time.
    started_cpu = time.process_time()
    uploaded = await stub.UploadSamples(upload_parts(dataset.id, files, images))
    upload_s = time.perf_counter() - started
    v1 = await stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id, message="first"))
    first_s = time.perf_counter() - started
    first_cpu_s = time.process_time() - started_cpu
    first_bytes = await bucket_bytes(store)
    first_publish_only_s = first_s - upload_s
    # 1%: new contents for the first 1% of the files.
    changed = files[: max(1, len(files) // 100)]
    rng = random.Random(99)
    for path in changed:
        path.write_bytes(noisy_png(rng))
    # The changed files uploaded again, replacing the samples of the same names in one transaction.
    started = time.perf_counter()
    started_cpu = time.process_time()
    replaced = await stub.UploadSamples(upload_parts(dataset.id, changed, images, replace=True))
    uploaded_s = time.perf_counter() - started
    assert replaced.samples_replaced == len(changed), replaced
    v2 = await stub.PublishVersion(pb.PublishVersionRequest(dataset_id=dataset.id, message="1% changed"))
    second_s = time.perf_counter() - started
    second_cpu_s = time.process_time() - started_cpu
    second_bytes = await bucket_bytes(store) - first_bytes
    return {
        "samples": uploaded.samples_added,
        "upload_s": round(upload_s, 2),
        "first_publish_s": round(first_s, 2),
        "first_publish_step_s": round(first_publish_only_s, 2),
        "samples_per_s": round(len(files) / first_s, 1),
        "first_bytes": first_bytes,
        "second_publish_s": round(second_s, 2),
        "second_steps_s": {
            "upload_replacing": round(uploaded_s, 2),
            "publish": round(second_s - uploaded_s, 2),
        },
        "second_bytes": second_bytes,
        "second_time_pct": round(100 * second_s / first_s, 2),
        "first_cpu_s": round(first_cpu_s, 2),
        "second_cpu_s": round(second_cpu_s, 3),
        "second_cpu_pct": round(100 * second_cpu_s / first_cpu_s, 2),
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


class CpuClock:
    """CPU seconds used so far by this process (the service) and the S3 server: with the client's
    own figure, which process pays for a download, whatever the machine's load."""

    def __init__(self, s3_pid: int | None) -> None:
        self._s3_stat = Path(f"/proc/{s3_pid}/stat") if s3_pid else None

    def read(self) -> dict[str, float]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        s3 = 0.0
        if self._s3_stat is not None:
            fields = self._s3_stat.read_text().rsplit(")", 1)[1].split()
            s3 = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        return {"service": own.ru_utime + own.ru_stime, "s3": s3}

    def per_gib_since(
        self, before: dict[str, float], client_s: float, content_bytes: int
    ) -> dict[str, float]:
        spent = {name: seconds - before[name] for name, seconds in self.read().items()}
        return {
            name: seconds * 2**30 / content_bytes for name, seconds in {**spent, "client": client_s}.items()
        }


async def raw_read(store: ObjectStore, digests: list[str], window: int) -> dict[str, float]:
    """The limit: the same blobs read straight from S3 by a client process like the download's
    (`client.py raw`), with the service's S3 client, `window` at a time (as many as the service reads
    ahead), in reads of the downloads' size, neither hashed nor archived."""
    settings = store.settings
    job = {
        "s3": {**settings.model_dump(), "secret_key": settings.secret_key.get_secret_value()},
        "digests": digests,
    }
    client = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.dataset.client",
        "raw",
        str(window),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await client.communicate(json.dumps(job).encode())
    assert client.returncode == 0, f"the raw S3 reader failed ({client.returncode})"
    measured: dict[str, float] = json.loads(output)
    assert measured["bytes"] > 0
    return measured


async def download_bench(
    stub: Any,
    store: ObjectStore,
    workdir: Path,
    total_mb: int,
    level: int,
    window: int,
    repeat: int,
    s3_pid: int | None = None,
    modes: tuple[str, ...] = ("service", "direct", "direct-sha256"),
    formats: tuple[str, ...] = ("tar.gz", "zip"),
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
    results: dict[str, Any] = {"version_bytes": version.total_bytes, "raw_s3_window": window}
    clock = CpuClock(s3_pid)
    # "tar.gz" and "zip" stream through the service (DownloadVersion); "... direct" is the CLI's
    # --direct: the client reads S3 with presigned URLs and builds the same archive itself, checking
    # blobs against their CRC-32 (the default) or, "... direct sha256", their SHA-256.
    suffixes = {"service": "", "direct": " direct", "direct-sha256": " direct sha256"}
    for name, fmt in (("tar.gz", pb.ARCHIVE_FORMAT_TAR_GZ), ("zip", pb.ARCHIVE_FORMAT_ZIP)):
        if name not in formats:
            continue
        for mode in modes:
            suffix = suffixes[mode]
            label = name + suffix
            runs: list[dict[str, Any]] = []
            for _ in range(repeat):
                # The limit is read right before each download: the shared machine's load drifts.
                before = clock.read()
                raw = await raw_read(store, digests, window)
                raw_cpu = clock.per_gib_since(before, raw["cpu_s"], version.total_bytes)
                before = clock.read()
                download = await timed_download(stub, dataset.id, version.number, fmt, mode)
                cpu = {
                    "download": clock.per_gib_since(before, download.pop("cpu_s"), version.total_bytes),
                    "raw": raw_cpu,
                }
                runs.append({**download, "raw": version.total_bytes / raw["s"], "cpu": cpu})
            results[label] = summary(runs, version.total_bytes)
    return results


async def timed_download(
    stub: Any, dataset_id: str, number: int, fmt: int, mode: str = "service"
) -> dict[str, float]:
    """One download by a client process; this (the service's) process's peak RSS growth meanwhile.
    `mode` "direct" / "direct-sha256": the client reads S3 itself with the service's download plan
    and checks blobs against their CRC-32 / SHA-256."""
    baseline = rss_bytes()
    peak = [baseline]
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_peak(peak, stop))
    client = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.dataset.client",
        *(["direct"] if mode.startswith("direct") else []),
        str(stub.port),
        dataset_id,
        str(number),
        str(fmt),
        *(["sha256"] if mode == "direct-sha256" else []),
        stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await client.communicate()
    stop.set()
    await sampler
    assert client.returncode == 0, f"the download client failed ({client.returncode})"
    measured = json.loads(output)
    return {**measured, "rss_growth": peak[0] - baseline}


def summary(runs: list[dict[str, Any]], content_bytes: int) -> dict[str, Any]:
    """Medians over the repeats (each download against the raw read just before it)."""
    rates = [content_bytes / run["s"] for run in runs]
    shares = [100 * content_bytes / run["s"] / run["raw"] for run in runs]
    return {
        "archive_bytes": int(runs[0]["bytes"]),
        "runs": len(runs),
        "content_mb_s": round(statistics.median(rates) / MiB, 1),
        "raw_s3_mb_s": round(statistics.median(run["raw"] for run in runs) / MiB, 1),
        "pct_of_raw_s3": round(statistics.median(shares), 1),
        "pct_of_raw_s3_each": [round(share, 1) for share in shares],
        "rss_growth_mb": round(max(run["rss_growth"] for run in runs) / MiB, 1),
        # Medians. "service" is this process: while reading raw, only its idle serving threads.
        "cpu_s_per_gib": {
            read: {
                process: round(statistics.median(run["cpu"][read][process] for run in runs), 2)
                for process in runs[0]["cpu"][read]
            }
            for read in ("download", "raw")
        },
    }


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
    # As ServiceRuntime.serve does in a service's own process, once started.
    gc.freeze()
    try:
        options = [("grpc.max_send_message_length", 64 * MiB), ("grpc.max_receive_message_length", 64 * MiB)]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{runtime.port}", options=options) as channel:
            metadata = (("authorization", "Bearer bench"),)
            stub = _Authorised(dataset_pb2_grpc.DatasetServiceStub(channel), metadata, runtime.port)
            yield stub, ObjectStore(settings.s3)
    finally:
        await runtime.stop()


class _Authorised:
    """The stub with the token metadata on every call."""

    def __init__(self, stub: Any, metadata: Any, port: int) -> None:
        self._stub = stub
        self._metadata = metadata
        self.port = port

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
            overrides = {
                "download_compression_level": args.level,
                "download_deflate_max_ratio": args.deflate_max_ratio,
                "download_prefetch_window": args.window,
            }
            async for stub, store in running_service(workdir, s3, **overrides):
                log.warning("ingest bench (ours)")
                results["ours"] = await ours_ingest(stub, store, images, files)
                if args.download_mb:
                    log.warning("download bench")
                    results["download"] = await download_bench(
                        stub,
                        store,
                        workdir,
                        args.download_mb,
                        args.level,
                        args.window,
                        args.repeat,
                        s3.pid,
                        modes=tuple(args.modes.split(",")),
                        formats=tuple(args.formats.split(",")),
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
    parser.add_argument(
        "--deflate-max-ratio", type=float, default=0.5, help="1.0 deflates every member that is not media"
    )
    parser.add_argument("--window", type=int, default=4, help="blobs read ahead (and raw S3 readers)")
    parser.add_argument("--repeat", type=int, default=3, help="downloads per format (medians reported)")
    parser.add_argument(
        "--modes",
        default="service,direct,direct-sha256",
        help="download modes: service (DownloadVersion), direct (the CLI's S3 reads, CRC-32), direct-sha256",
    )
    parser.add_argument("--formats", default="tar.gz,zip", help="archive formats to download")
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
