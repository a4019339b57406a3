"""Where bundles come from: a path on this machine, a content-addressed blob in the object store
(`blob:<sha256>`), or an object in it (`s3://<bucket>/<key>`, as the registry records a run's bundle)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mlops.algorithms.bundle import ModelBundle
from mlops.kernel.errors import FailedPrecondition, InvalidArgument
from mlops.kernel.objectstore import ObjectStore

BLOB_PREFIX = "blob:"
S3_PREFIX = "s3://"


class BundleSource:
    def __init__(self, store: ObjectStore | None = None) -> None:
        self.store = store

    async def fetch(self, ref: str) -> ModelBundle:
        if ref.startswith(BLOB_PREFIX):
            if self.store is None:
                raise FailedPrecondition("this worker has no object store to fetch bundles from")
            data = await self.store.get_bytes(ref.removeprefix(BLOB_PREFIX))
            return await asyncio.to_thread(ModelBundle.from_zip, data)
        if ref.startswith(S3_PREFIX):
            return await asyncio.to_thread(ModelBundle.from_zip, await self._object(ref))
        return await asyncio.to_thread(_load_local, Path(ref))

    async def _object(self, uri: str) -> bytes:
        bucket, _, key = uri.removeprefix(S3_PREFIX).partition("/")
        if self.store is None:
            raise FailedPrecondition("this worker has no object store to fetch bundles from")
        if bucket != self.store.bucket:
            raise FailedPrecondition(f"{uri} lies outside this worker's bucket {self.store.bucket}")
        return await (await self.store.open_object(key, verify=True)).read_all()


def _load_local(path: Path) -> ModelBundle:
    if not path.exists():
        raise InvalidArgument(f"no bundle at {path}", field="bundle")
    return ModelBundle.load(path)
