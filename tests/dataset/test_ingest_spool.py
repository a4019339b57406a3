"""An upload received into one temporary file: its limits, and each file a region read with pread."""

from __future__ import annotations

import io
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest

from mlops.kernel.errors import InvalidArgument
from services.dataset.domain import Scenario
from services.dataset.ingest import IngestLimits, UploadFormat, UploadSpec, UploadSpool, read_upload

from .builders import png, zip_bytes


def spooled(files: dict[str, bytes], limits: IngestLimits | None = None, chunk: int = 1000) -> UploadSpool:
    spool = UploadSpool(limits)
    for name, data in files.items():
        spool.start_file(name)
        for start in range(0, len(data), chunk):
            spool.write(data[start : start + chunk])
    return spool


def content(n: int, size: int) -> bytes:
    """Bytes that differ by file and by position, so a read from the wrong place shows."""
    return bytes((n * 7 + i * 13) % 251 for i in range(size))


def test_each_file_reads_back_as_its_own_region() -> None:
    files = {"a.bin": content(1, 5000), "empty": b"", "c.bin": content(3, 70_000)}
    with spooled(files) as spool:
        readers = spool.files()
        assert [r.read() for r in readers] == list(files.values())
        assert spool.size == 75_000


def test_a_region_seeks_and_tells_within_its_own_bytes() -> None:
    data = content(2, 10_000)
    with spooled({"before": content(1, 3000), "f": data, "after": content(3, 3000)}) as spool:
        region = spool.files()[1]
        assert region.readable() and region.seekable() and not region.writable()
        assert region.seek(0, os.SEEK_END) == 10_000 and region.read(10) == b""
        region.seek(100)
        assert region.read(50) == data[100:150] and region.tell() == 150
        region.seek(-20, os.SEEK_CUR)
        assert region.read(20) == data[130:150]
        region.seek(-5, os.SEEK_END)
        assert region.read() == data[-5:]
        buffer = bytearray(64)
        region.seek(9990)
        assert region.readinto(buffer) == 10 and bytes(buffer[:10]) == data[9990:]
        with pytest.raises(OSError):
            region.seek(-1)


def test_lines_are_read_as_from_any_file() -> None:
    lines = b"".join(b"line %d\n" % n for n in range(5000))
    with spooled({"x": b"junk\n", "log": lines}) as spool:
        region = spool.files()[1]
        assert region.readline() == b"line 0\n"
        assert region.readline(4) == b"line"
        assert sum(1 for _ in region) == 4999


def test_threads_read_regions_at_once_without_moving_each_other() -> None:
    files = {f"f{n}": content(n, 200_000 + n) for n in range(8)}
    with spooled(files, chunk=64 * 1024) as spool:

        def read_back(index: int) -> bool:
            # Fresh readers each round: every thread hits the shared descriptor at its own offsets.
            for _ in range(20):
                region = spool.files()[index]
                region.seek(index * 1000)
                head = region.read(5000)
                region.seek(0)
                if head != files[f"f{index}"][index * 1000 : index * 1000 + 5000]:
                    return False
                if region.read() != files[f"f{index}"]:
                    return False
            return True

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert all(pool.map(read_back, range(8)))


def test_a_zip_reads_from_a_region() -> None:
    archive = zip_bytes({"cat/a.png": png(), "dog/b.png": png(3, 2)}).getvalue()
    with spooled({"notes.txt": b"not a zip", "images.zip": archive}) as spool:
        with zipfile.ZipFile(spool.files()[1]) as opened:
            assert opened.namelist() == ["cat/a.png", "dog/b.png"]
            assert opened.read("dog/b.png") == png(3, 2)
        spec = UploadSpec("images.zip", UploadFormat.IMAGE_ARCHIVE)
        samples = list(read_upload(spool.files()[1], scenario=Scenario.IMAGE_CLASSIFICATION, spec=spec))
        assert [s.name for s in samples] == ["cat/a.png", "dog/b.png"]


def test_one_descriptor_serves_every_file() -> None:
    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    with spooled({f"f{n}": b"x" for n in range(500)}) as spool:
        readers = spool.files()
        assert len(readers) == 500
        if before is not None:
            assert len(os.listdir("/proc/self/fd")) <= before + 1


def test_readers_are_closed_with_the_spool() -> None:
    spool = spooled({"a": b"abc"})
    reader = spool.files()[0]
    spool.close()
    assert reader.closed
    with pytest.raises(ValueError, match="closed"):
        reader.read()


def test_a_file_over_the_per_file_limit_is_refused_as_it_arrives() -> None:
    with UploadSpool(IngestLimits(max_upload_bytes=10)) as spool:
        spool.start_file("big.zip")
        spool.write(b"12345")
        with pytest.raises(InvalidArgument, match=r"big\.zip: more than the upload limit of 10 bytes"):
            spool.write(b"678901")
        spool.start_file("next.zip")
        spool.write(b"1234567890")


def test_an_upload_over_its_file_count_is_refused_at_the_next_header() -> None:
    with spooled({"a": b"1", "b": b"2"}, IngestLimits(max_upload_files=2)) as spool:
        with pytest.raises(InvalidArgument, match=r"c\.csv: the upload holds more than the limit of 2 files"):
            spool.start_file("c.csv")


def test_an_upload_over_its_total_size_is_refused_as_it_arrives() -> None:
    limits = IngestLimits(max_upload_bytes=100, max_upload_total_bytes=250)
    with spooled({"a": bytes(100), "b": bytes(100)}, limits) as spool:
        spool.start_file("c")
        spool.write(bytes(50))
        with pytest.raises(
            InvalidArgument, match="c: the upload holds more than the limit of 250 bytes in all"
        ):
            spool.write(b"x")
        assert spool.size == 250


def test_bytes_before_a_header_are_refused() -> None:
    with UploadSpool() as spool, pytest.raises(InvalidArgument, match="after its header"):
        spool.write(b"x")


def test_a_region_is_a_binary_file_for_text_readers() -> None:
    with spooled({"t.jsonl": b'{"text": "a"}\n{"text": "b"}\n'}) as spool:
        spec = UploadSpec("t.jsonl", UploadFormat.JSONL)
        samples = list(read_upload(spool.files()[0], scenario=Scenario.TEXT_CLASSIFICATION, spec=spec))
        assert [s.read_bytes() for s in samples] == [b"a", b"b"]
        assert isinstance(spool.files()[0], io.BufferedIOBase)
