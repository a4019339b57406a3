"""A download client in its own process, as real ones are (the CLI, a training worker): the bench's
service process then spends its GIL on serving alone. The limit it is compared with is read by the
same kind of process: the same blobs straight from S3, as many at once as the service reads ahead.

    python -m bench.dataset.client PORT DATASET_ID NUMBER FORMAT  ->  {"bytes": ..., "s": ..., "cpu_s": ...}
        (`mlops datasets download --through-service`'s own stream: blocking client, its channel options)
    python -m bench.dataset.client direct PORT DATASET_ID NUMBER FORMAT [crc32|sha256]  ->  same
    python -m bench.dataset.client raw WINDOW < {"s3": S3Settings, "digests": [...]}  ->  same

`direct` is the CLI's `--direct` download (its own code): the plan from the service, the blobs from
S3 with the presigned URLs, each blob checked against its recorded CRC-32 (the default) or its
SHA-256, the archive built here. Like the gRPC client it keeps no file: the archive goes to
/dev/null, so neither mode pays for a disk the other does not.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import grpc

from mlops.api.common.v1 import common_pb2
from mlops.api.dataset.v1 import dataset_pb2 as pb
from mlops.api.dataset.v1 import dataset_pb2_grpc
from mlops.cli.dataset_download import plan_pages, write_plan_archive_to
from mlops.cli.dataset_stream import STREAM_CHANNEL_OPTIONS, stream_archive
from mlops.datasets.archive import ArchiveFormat
from mlops.datasets.checksum import Verification
from mlops.datasets.prefetch import READ_SIZE
from mlops.kernel.objectstore import ObjectStore, blob_key
from mlops.kernel.settings import S3Settings

MiB = 1024 * 1024
ARCHIVE_FORMATS: dict[int, ArchiveFormat] = {
    pb.ARCHIVE_FORMAT_TAR_GZ: ArchiveFormat.TAR_GZ,
    pb.ARCHIVE_FORMAT_ZIP: ArchiveFormat.ZIP,
}


def cpu_seconds() -> float:
    """This process's CPU time: what the client spends, its interpreter's start excluded."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def drain(port: int, dataset_id: str, number: int, archive_format: int) -> dict[str, float]:
    """`mlops datasets download --through-service`'s own stream (its channel and reply parsing)."""
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=STREAM_CHANNEL_OPTIONS) as channel:
        grpc.channel_ready_future(channel).result(timeout=30)
        request = pb.DownloadVersionRequest(
            dataset_id=dataset_id, number=number, format=pb.ArchiveFormat.Name(archive_format)
        )
        started, cpu_started = time.perf_counter(), cpu_seconds()
        received = 0
        metadata = (("authorization", "Bearer bench"),)
        for data in stream_archive(channel, request, metadata, timeout=3600):
            received += len(data)
        return {"bytes": received, "s": time.perf_counter() - started, "cpu_s": cpu_seconds() - cpu_started}


def direct(
    port: int, dataset_id: str, number: int, archive_format: int, verification: Verification
) -> dict[str, float]:
    options = [("grpc.max_receive_message_length", 64 * MiB)]
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
        stub = dataset_pb2_grpc.DatasetServiceStub(channel)
        started, cpu_started = time.perf_counter(), cpu_seconds()

        def fetch(token: str) -> pb.VersionDownloadPlan:
            request = pb.GetVersionDownloadPlanRequest(
                dataset_id=dataset_id, number=number, page=common_pb2.PageRequest(page_token=token)
            )
            metadata = (("authorization", "Bearer bench"),)
            return stub.GetVersionDownloadPlan(request, metadata=metadata, timeout=120)  # type: ignore[no-any-return]

        with open(os.devnull, "wb") as sink:
            written = write_plan_archive_to(
                plan_pages(fetch), ARCHIVE_FORMATS[archive_format], sink, verification=verification
            )
        return {"bytes": written, "s": time.perf_counter() - started, "cpu_s": cpu_seconds() - cpu_started}


def read_blob(store: ObjectStore, digest: str) -> int:
    response = store.client.get_object(bucket_name=store.bucket, object_name=blob_key(digest))
    try:
        return sum(len(chunk) for chunk in iter(lambda: response.read(READ_SIZE), b""))
    finally:
        response.close()
        response.release_conn()


def read_raw(store: ObjectStore, digests: list[str], window: int) -> dict[str, float]:
    """The limit: the blobs read with the service's S3 client, `window` at a time (as many as the
    service reads ahead), in reads of the downloads' size (READ_SIZE), neither hashed nor archived."""
    with ThreadPoolExecutor(max_workers=window) as pool:
        started, cpu_started = time.perf_counter(), cpu_seconds()
        received = sum(pool.map(lambda digest: read_blob(store, digest), digests))
        return {"bytes": received, "s": time.perf_counter() - started, "cpu_s": cpu_seconds() - cpu_started}


if __name__ == "__main__":
    if sys.argv[1] == "raw":
        job = json.load(sys.stdin)
        result = read_raw(ObjectStore(S3Settings(**job["s3"])), job["digests"], int(sys.argv[2]))
    elif sys.argv[1] == "direct":
        port, dataset_id, number, archive_format = sys.argv[2:6]
        verification = Verification(sys.argv[6] if len(sys.argv) > 6 else "crc32")
        result = direct(int(port), dataset_id, int(number), int(archive_format), verification)
    else:
        port, dataset_id, number, archive_format = sys.argv[1:5]
        result = drain(int(port), dataset_id, int(number), int(archive_format))
    sys.stdout.write(json.dumps(result) + "\n")
