"""`mlops datasets download --through-service`: the archive the dataset service streams (DownloadVersion).

The client's share of a streamed download is mostly gRPC's receive path, so three choices keep it
small (measured on 1 GiB, 2 cores, bench/dataset/README.md): the blocking client (about half the CPU
of the asyncio one), a channel of its own that reads the socket in large chunks instead of gRPC's
default small reads, and replies taken as views into the received message instead of parsed into a
second copy by protobuf.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from mlops.api.dataset.v1 import dataset_pb2 as pb
from mlops.cli.client import console
from mlops.kernel.grpcx.tls import process_tls, sync_channel

MiB = 1024 * 1024
DOWNLOAD_METHOD = "/mlops.dataset.v1.DatasetService/DownloadVersion"
# Large socket reads: the stream is a few big messages, not many small ones.
STREAM_CHANNEL_OPTIONS = (
    ("grpc.max_receive_message_length", 64 * MiB),
    ("grpc.experimental.tcp_read_chunk_size", 4 * MiB),
    ("grpc.experimental.tcp_min_read_chunk_size", MiB),
    ("grpc.experimental.tcp_max_read_chunk_size", 8 * MiB),
)
_DATA_TAG = 1 << 3 | 2  # DownloadChunk.data: field 1, length-delimited


def chunk_data(message: bytes) -> memoryview:
    """A serialised DownloadChunk's `data`, without copying it out of the message.

    The service sends each chunk as the `data` field alone; any other shape (another field, a server
    that orders fields differently) goes through protobuf's parser.
    """
    if message and message[0] == _DATA_TAG:
        size, shift, position = 0, 0, 1
        while position < len(message) and position <= 10:
            byte = message[position]
            size |= (byte & 0x7F) << shift
            position += 1
            if not byte & 0x80:
                if position + size == len(message):
                    return memoryview(message)[position:]
                break
            shift += 7
    return memoryview(pb.DownloadChunk.FromString(message).data)


def stream_archive(
    channel: grpc.Channel, request: pb.DownloadVersionRequest, metadata: Any, timeout: float
) -> Iterator[memoryview]:
    """The archive's bytes as the service streams them."""
    call = channel.unary_stream(
        DOWNLOAD_METHOD,
        request_serializer=pb.DownloadVersionRequest.SerializeToString,
        response_deserializer=chunk_data,
    )
    yield from call(request, metadata=metadata, timeout=timeout)


def download_through_service(
    address: str,
    request: pb.DownloadVersionRequest,
    metadata: Any,
    output: Path,
    total: int,
    timeout: float,
) -> int:
    """Writes the streamed archive to `output` (through `<name>.part`, renamed when complete), with a
    progress bar; returns its size."""
    written = 0
    partial = output.with_name(output.name + ".part")
    columns = (*Progress.get_default_columns()[:1], BarColumn(), DownloadColumn(), TransferSpeedColumn())
    try:
        with (
            sync_channel(address, process_tls(), STREAM_CHANNEL_OPTIONS) as channel,
            Progress(*columns, console=console, transient=True) as progress,
            partial.open("wb") as sink,
        ):
            # The archive's size is unknown ahead; the samples' size is a close estimate.
            task = progress.add_task("downloading", total=total or None)
            for data in stream_archive(channel, request, metadata, timeout):
                sink.write(data)
                written += len(data)
                progress.advance(task, len(data))
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    return written
