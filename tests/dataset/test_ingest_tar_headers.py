"""TAR headers that tarfile reads whole into memory: long names, long links, PAX and sparse headers."""

from __future__ import annotations

import io
import tarfile
import time
import tracemalloc
import zlib

import pytest

from mlops.kernel.errors import InvalidArgument
from services.dataset.domain import Scenario
from services.dataset.ingest import (
    IngestedSample,
    IngestLimits,
    MiB,
    UploadFormat,
    UploadSpec,
    collect_upload,
)

from .builders import png

GiB = 1024 * MiB


def images(data: bytes, limits: IngestLimits | None = None) -> list[IngestedSample]:
    spec = UploadSpec(file_name="upload.tgz", format=UploadFormat.IMAGE_ARCHIVE)
    return collect_upload(io.BytesIO(data), scenario=Scenario.IMAGE_CLASSIFICATION, spec=spec, limits=limits)


def header_block(kind: bytes, size: int, name: str = "././@LongLink") -> bytes:
    """One 512-byte header that claims `size` bytes of data, whatever follows it."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    return info.tobuf(format=tarfile.GNU_FORMAT)


def gzip_with_zeros(head: bytes, zeros: int) -> bytes:
    """`head` then `zeros` zero bytes, gzip-compressed a MiB at a time (about 1 KB per MiB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [compressor.compress(head)]
    parts.extend(compressor.compress(bytes(MiB)) for _ in range(zeros // MiB))
    parts.append(compressor.flush())
    return b"".join(parts)


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, io.BytesIO]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, io.BytesIO(data)


def member_bytes(name: str, data: bytes) -> bytes:
    info, _ = regular(name, data)
    padding = -len(data) % tarfile.BLOCKSIZE
    return info.tobuf(format=tarfile.PAX_FORMAT) + data + bytes(padding)


def pax_tar(*members: tuple[str, dict[str, str]], global_headers: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(
        fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT, pax_headers=global_headers or {}
    ) as archive:
        for name, headers in members:
            info, data = regular(name, png())
            info.pax_headers = headers
            archive.addfile(info, data)
    return buffer.getvalue()


def test_a_long_name_header_claiming_gigabytes_is_refused_before_it_is_read() -> None:
    # Claims 4 GiB; 64 MiB of zeros follow, which is what tarfile would read (and hold) without the
    # check, in a 65 KB file.
    bomb = gzip_with_zeros(header_block(tarfile.GNUTYPE_LONGNAME, 4 * GiB), 64 * MiB)
    assert len(bomb) < 100_000
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(
            InvalidArgument, match=r"upload.tgz: .*header of 4294967296 bytes.* limit of 1048576"
        ):
            images(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MiB
    assert time.monotonic() - started < 5


def test_a_long_link_header_over_the_limit_is_refused() -> None:
    bomb = gzip_with_zeros(header_block(tarfile.GNUTYPE_LONGLINK, 2 * MiB), 2 * MiB)
    with pytest.raises(InvalidArgument, match=r"header of 2097152 bytes, more than the limit of 1048576"):
        images(bomb)


def test_a_pax_header_over_the_limit_is_refused() -> None:
    archive = pax_tar(("cat/a.png", {"comment": "x" * (MiB + 1)}))
    with pytest.raises(
        InvalidArgument, match=r"upload.tgz: .*extended header of \d+ bytes.*limit of 1048576"
    ):
        images(archive)
    assert len(images(archive, IngestLimits(max_tar_header_bytes=2 * MiB))) == 1


def test_global_pax_headers_are_limited_in_all() -> None:
    # Each is small; together they would grow the dict that every later member is patched from.
    archive = b"".join(
        tarfile.TarInfo.create_pax_global_header({f"note{n}": "x" * 900})
        + member_bytes(f"cat/{n}.png", png())
        for n in range(3)
    )
    assert len(images(archive, IngestLimits(max_tar_header_bytes=4000))) == 3
    with pytest.raises(InvalidArgument, match=r"global headers of more than 2000 bytes in all"):
        images(archive, IngestLimits(max_tar_header_bytes=2000))


def test_header_bytes_are_charged_to_the_archive_budget() -> None:
    members = [(f"cat/{n}.png", {"comment": "x" * 50_000}) for n in range(10)]
    archive = pax_tar(*members)
    assert len(images(archive)) == 10
    with pytest.raises(InvalidArgument, match=r"expands past the limit of 200000 bytes"):
        images(archive, IngestLimits(max_uncompressed_bytes=200_000))


def test_a_chain_of_headers_is_refused_rather_than_recursed_into() -> None:
    # tarfile reads each header's successor by recursion: thousands would end in RecursionError.
    chain = b"".join(header_block(tarfile.XGLTYPE, 0, "g") for _ in range(3000))
    info, _ = regular("cat/a.png", b"")
    with pytest.raises(InvalidArgument, match=r"more than 8 extended headers in a row"):
        images(chain + info.tobuf() + bytes(1024))


@pytest.mark.parametrize(
    "build",
    [
        lambda: header_block(tarfile.GNUTYPE_SPARSE, 0, "cat/a.png") + bytes(1024),
        lambda: pax_tar(("cat/a.png", {"GNU.sparse.major": "1", "GNU.sparse.minor": "0"})),
    ],
    ids=["gnu", "pax-1.0"],
)
def test_sparse_files_are_refused(build) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidArgument, match="sparse file"):
        images(build())


@pytest.mark.parametrize("tar_format", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT], ids=["gnu", "pax"])
def test_a_long_name_of_a_few_hundred_characters_is_accepted(tar_format: int) -> None:
    name = "cat/" + "long-name-" * 30 + ".png"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tar_format) as archive:
        archive.addfile(*regular(name, png()))
    (sample,) = images(buffer.getvalue())
    assert sample.name == name and len(name) > 300
