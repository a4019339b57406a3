"""The archive writers (mlops.datasets.archive): what they hold while writing many members, and a
manifest.json that is read from a file rather than held as bytes."""

from __future__ import annotations

import io
import tarfile
import tracemalloc
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from mlops.datasets.archive import (
    ArchiveFormat,
    ArchivePolicy,
    ManifestFile,
    Members,
    write_archive,
    write_tar_gz,
    write_zip,
)

CONTENT = b"2026-12-02 12:00:00 INFO request served in 12 ms\n"


@dataclass(frozen=True)
class _Entry:
    name: str
    sha256: str
    size_bytes: int
    media_type: str = "text/plain"


class _Blob(io.BytesIO):
    """What a Prefetcher hands the writer: a readable blob that knows its entry and can be peeked."""

    def __init__(self, entry: _Entry, data: bytes) -> None:
        super().__init__(data)
        self.entry = entry

    def peek(self, size: int) -> bytes:
        return self.getvalue()[:size]


def _members(count: int) -> Members:
    def members() -> Iterator[tuple[str, Any]]:
        for n in range(count):
            entry = _Entry(f"m-{n:06d}.log", "0" * 64, len(CONTENT))
            yield f"samples/{entry.name}", _Blob(entry, CONTENT)

    return members()


class _Discard:
    def write(self, data: Any, /) -> int:
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def _peak_while_writing(writer: Any, count: int) -> int:
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        writer(_Discard(), _members(count), ManifestFile.of(b"{}"), ArchivePolicy())
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_tar_gz_holds_nothing_per_member() -> None:
    few, many = _peak_while_writing(write_tar_gz, 1000), _peak_while_writing(write_tar_gz, 8000)
    assert many < few + 64 * 1024, (few, many)


def test_zip_holds_only_its_central_directory_records() -> None:
    few, many = _peak_while_writing(write_zip, 1000), _peak_while_writing(write_zip, 8000)
    # One ZipInfo per member until the central directory is written at the end (~0.35 KB each).
    assert (many - few) / 7000 < 600, (few, many)


@pytest.mark.parametrize("archive_format", list(ArchiveFormat))
def test_the_manifest_is_copied_from_its_file(archive_format: ArchiveFormat) -> None:
    manifest = b'{"format":1,"samples":[' + b",".join(b'{"n":%d}' % n for n in range(50_000)) + b"]}"
    out = io.BytesIO()
    write_archive(
        archive_format, out, _members(3), ManifestFile(io.BytesIO(manifest), len(manifest)), ArchivePolicy()
    )
    data = out.getvalue()
    if archive_format is ArchiveFormat.ZIP:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert archive.read("manifest.json") == manifest
            assert archive.getinfo("manifest.json").compress_type == zipfile.ZIP_DEFLATED
            assert archive.namelist()[1:] == [f"samples/m-{n:06d}.log" for n in range(3)]
    else:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            names = archive.getnames()
            assert archive.extractfile("manifest.json").read() == manifest  # type: ignore[union-attr]
            assert names[1:] == [f"samples/m-{n:06d}.log" for n in range(3)]
    assert len(data) < len(manifest) // 2  # deflated, not stored
