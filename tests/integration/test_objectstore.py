"""The object store against a real S3 server (SeaweedFS, or MLOPS_TEST_S3_ENDPOINT)."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mlops.kernel.errors import InvalidArgument, NotFound
from mlops.kernel.objectstore import BlobCorrupted, ObjectStore, blob_key


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def chunks_of(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_same_content_is_stored_once(object_store: ObjectStore) -> None:
    data = b"a sample of a dataset\n" * 100

    first = await object_store.put_blob(io.BytesIO(data), media_type="text/plain")
    second = await object_store.put_blob(chunks_of(data))
    third = await object_store.put_bytes(data)

    assert first.created and not second.created and not third.created
    assert first.sha256 == second.sha256 == third.sha256 == digest(data)
    assert first.key == blob_key(digest(data)) == f"blobs/sha256/{first.sha256[:2]}/{first.sha256}"
    assert first.size == len(data)
    assert [blob.sha256 async for blob in object_store.iter_blobs()] == [first.sha256]


async def test_every_source_kind_round_trips(object_store: ObjectStore, tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(os.urandom(300_000))
    sources = {
        "path": (path, path.read_bytes()),
        "reader": (io.BytesIO(b"from a reader"), b"from a reader"),
        "async": (chunks_of(b"from an async iterator" * 999, 777), b"from an async iterator" * 999),
    }
    for name, (source, data) in sources.items():
        info = await object_store.put_blob(source)  # type: ignore[arg-type]
        assert info.created, name
        assert (info.sha256, info.size) == (digest(data), len(data)), name
        assert await object_store.get_bytes(info.sha256) == data, name
    # Spooled temporary files are gone, the caller's file is not.
    assert path.exists()
    assert not list(object_store.spool_dir.iterdir())  # type: ignore[union-attr]


async def test_empty_content_is_a_blob_too(object_store: ObjectStore) -> None:
    info = await object_store.put_bytes(b"")
    assert info.size == 0 and info.sha256 == digest(b"")
    assert await object_store.get_bytes(info.sha256) == b""


async def test_stat_exists_delete_and_missing_blobs(object_store: ObjectStore) -> None:
    info = await object_store.put_bytes(b"to be collected")
    stat = await object_store.stat_blob(info.sha256)
    assert stat is not None and stat.size == info.size and stat.last_modified is not None
    assert await object_store.blob_exists(info.sha256)

    await object_store.delete_blob(info.sha256)

    assert await object_store.stat_blob(info.sha256) is None
    assert not await object_store.blob_exists(info.sha256)
    with pytest.raises(NotFound):
        await object_store.open_blob(info.sha256)
    with pytest.raises(InvalidArgument):
        await object_store.stat_blob("../../etc/passwd")


async def test_verification_catches_a_corrupted_blob(object_store: ObjectStore) -> None:
    good = b"the original bytes" * 1000
    info = await object_store.put_bytes(good)
    # Damage the stored object behind the store's back, keeping its size.
    bad = b"X" + good[1:]
    await object_store.put_object(info.key, bad)

    assert await object_store.get_bytes(info.sha256, verify=False) == bad
    with pytest.raises(BlobCorrupted):
        await object_store.get_bytes(info.sha256, verify=True)
    stream = await object_store.open_blob(info.sha256, verify=True, chunk_size=4096)
    with pytest.raises(BlobCorrupted):
        async with stream:
            async for _ in stream:
                pass
    # The same size means put_blob trusts what is there: dedup compares by key and size.
    assert not (await object_store.put_bytes(good)).created


async def test_a_blob_of_the_wrong_size_is_stored_again(object_store: ObjectStore) -> None:
    data = b"complete content"
    info = await object_store.put_bytes(data)
    await object_store.put_object(info.key, b"truncated")

    again = await object_store.put_blob(io.BytesIO(data))

    assert again.created
    assert await object_store.get_bytes(info.sha256, verify=True) == data


async def test_keyed_objects_round_trip_with_recorded_sha256(object_store: ObjectStore) -> None:
    key = "artifacts/run-7/model/model.onnx"
    data = os.urandom(50_000)

    info = await object_store.put_object(key, io.BytesIO(data), media_type="application/onnx")

    assert (info.key, info.size, info.sha256) == (key, len(data), digest(data))
    stat = await object_store.stat_object(key)
    assert stat is not None and stat.sha256 == digest(data) and stat.media_type == "application/onnx"
    assert await (await object_store.open_object(key, verify=True)).read_all() == data
    listed = [item.key async for item in object_store.iter_objects("artifacts/run-7/")]
    assert listed == [key]

    await object_store.delete_object(key)

    assert await object_store.stat_object(key) is None
    with pytest.raises(NotFound):
        await object_store.open_object(key)


@pytest.mark.parametrize("key", ["../escape", "artifacts/../../escape", "/abs", "a/%2e%2e%2fb", "a\\b"])
async def test_keyed_objects_refuse_unsafe_keys(object_store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidArgument):
        await object_store.put_object(key, b"x")
    with pytest.raises(InvalidArgument):
        await object_store.open_object(key)
    with pytest.raises(InvalidArgument):
        await object_store.delete_object(key)
    assert [item async for item in object_store.iter_objects("")] == []


async def test_ensure_bucket_is_idempotent(object_store: ObjectStore) -> None:
    await object_store.ensure_bucket()
    await object_store.ensure_bucket()
