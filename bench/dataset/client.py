"""A download client in its own process, as real ones are (the CLI, a training worker): the bench's
service process then spends its GIL on serving alone.

    python -m bench.dataset.client PORT DATASET_ID NUMBER FORMAT  ->  {"bytes": ..., "s": ...}
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import grpc

from mlops.api.dataset.v1 import dataset_pb2 as pb
from mlops.api.dataset.v1 import dataset_pb2_grpc

MiB = 1024 * 1024


async def drain(port: int, dataset_id: str, number: int, archive_format: int) -> dict[str, float]:
    options = [("grpc.max_receive_message_length", 64 * MiB)]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
        await channel.channel_ready()
        stub = dataset_pb2_grpc.DatasetServiceStub(channel)
        request = pb.DownloadVersionRequest(
            dataset_id=dataset_id, number=number, format=pb.ArchiveFormat.Name(archive_format)
        )
        started = time.perf_counter()
        received = 0
        metadata = (("authorization", "Bearer bench"),)
        async for chunk in stub.DownloadVersion(request, metadata=metadata, timeout=3600):
            received += len(chunk.data)
        return {"bytes": received, "s": time.perf_counter() - started}


if __name__ == "__main__":
    port, dataset_id, number, archive_format = sys.argv[1:5]
    result = asyncio.run(drain(int(port), dataset_id, int(number), int(archive_format)))
    sys.stdout.write(json.dumps(result) + "\n")
