"""Large blobs stream through the object store in constant memory."""

from __future__ import annotations

import hashlib
import logging
import os
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mlops.kernel.objectstore import ObjectStore

LARGE = 64 * 1024 * 1024
MEMORY_BOUND = 30 * 1024 * 1024
CHUNK = 1024 * 1024


@pytest.fixture
def large_file(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "large.bin"
    hasher = hashlib.sha256()
    with path.open("wb") as out:
        for _ in range(LARGE // CHUNK):
            chunk = os.urandom(CHUNK)
            hasher.update(chunk)
            out.write(chunk)
    return path, hasher.hexdigest()


@pytest.fixture
def traced_memory() -> Iterator[None]:
    tracemalloc.start()
    yield
    tracemalloc.stop()


def peak_since_reset() -> int:
    return tracemalloc.get_traced_memory()[1]


async def test_large_blob_streams_up_and_down_in_bounded_memory(
    object_store: ObjectStore, large_file: tuple[Path, str], traced_memory: None
) -> None:
    path, sha256 = large_file

    tracemalloc.reset_peak()
    info = await object_store.put_blob(path)
    upload_peak = peak_since_reset()

    tracemalloc.reset_peak()
    hasher = hashlib.sha256()
    received = 0
    async with await object_store.open_blob(sha256, verify=True) as stream:
        assert stream.size == LARGE
        async for chunk in stream:
            hasher.update(chunk)
            received += len(chunk)
    download_peak = peak_since_reset()

    assert (info.sha256, info.size, info.created) == (sha256, LARGE, True)
    assert (hasher.hexdigest(), received) == (sha256, LARGE)
    logging.getLogger(__name__).info("peaks: upload %d, download %d", upload_peak, download_peak)
    assert upload_peak < MEMORY_BOUND, f"upload peaked at {upload_peak / 2**20:.1f} MiB"
    assert download_peak < MEMORY_BOUND, f"download peaked at {download_peak / 2**20:.1f} MiB"


async def test_large_async_source_is_spooled_not_buffered(
    object_store: ObjectStore, traced_memory: None
) -> None:
    hasher = hashlib.sha256()

    async def generated() -> AsyncIterator[bytes]:
        for _ in range(LARGE // CHUNK):
            chunk = os.urandom(CHUNK)
            hasher.update(chunk)
            yield chunk

    tracemalloc.reset_peak()
    info = await object_store.put_blob(generated())
    peak = peak_since_reset()

    assert (info.sha256, info.size) == (hasher.hexdigest(), LARGE)
    assert peak < MEMORY_BOUND, f"upload peaked at {peak / 2**20:.1f} MiB"
