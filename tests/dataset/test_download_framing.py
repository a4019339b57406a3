"""DownloadVersion's hand-framed replies parse as the DownloadChunk messages they stand for, and the
CLI's view of a reply's data (mlops.cli.dataset_stream.chunk_data) is that data for any encoding."""

from __future__ import annotations

import os

import pytest

from mlops.api.dataset.v1 import dataset_pb2 as pb
from mlops.cli.dataset_stream import chunk_data
from services.dataset.framing import download_chunk_header, file_name_field

# Around each boundary of the length's varint (1, 2, 3 and 4 bytes), and a 4 MiB chunk.
SIZES = [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 4 * 1024 * 1024]


@pytest.mark.parametrize("size", SIZES)
def test_a_framed_chunk_is_a_download_chunk(size: int) -> None:
    data = os.urandom(size)
    framed = download_chunk_header(size) + data
    assert pb.DownloadChunk.FromString(framed) == pb.DownloadChunk(data=data)
    assert chunk_data(framed) == data
    if size:  # protobuf leaves an empty field out; ours says it is empty: both parse the same
        assert framed == pb.DownloadChunk(data=data).SerializeToString()


@pytest.mark.parametrize("name", ["ds-1-v2.tar.gz", "d" * 200 + ".zip", "données-v1.zip"])
def test_the_first_chunk_also_names_the_file(name: str) -> None:
    data = os.urandom(1000)
    framed = download_chunk_header(len(data)) + data + file_name_field(name)
    assert pb.DownloadChunk.FromString(framed) == pb.DownloadChunk(data=data, file_name=name)
    assert chunk_data(framed) == data


@pytest.mark.parametrize(
    "message",
    [
        pb.DownloadChunk(file_name="v1.zip", data=b"abc"),  # another field first
        pb.DownloadChunk(file_name="v1.zip"),  # no data at all
        pb.DownloadChunk(),  # the empty message
        pb.DownloadChunk(data=b"x" * 300),  # as protobuf itself frames it
    ],
)
def test_the_cli_reads_the_data_of_any_encoding(message: pb.DownloadChunk) -> None:
    encoded = message.SerializeToString()
    if message.file_name:  # protobuf writes fields in number order: put the name first by hand
        encoded = file_name_field(message.file_name) + pb.DownloadChunk(data=message.data).SerializeToString()
    assert chunk_data(encoded) == message.data


def test_a_data_field_repeated_keeps_the_last_as_protobuf_does() -> None:
    encoded = download_chunk_header(2) + b"ab" + download_chunk_header(3) + b"cde"
    assert chunk_data(encoded) == pb.DownloadChunk.FromString(encoded).data == b"cde"
