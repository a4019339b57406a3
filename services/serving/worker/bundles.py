"""Where bundles come from: a path on this machine, or a content-addressed blob in the object store."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mlops.algorithms.bundle import ModelBundle
from mlops.kernel.errors import FailedPrecondition, InvalidArgument
from mlops.kernel.objectstore import ObjectStore

BLOB_PREFIX = "blob:"


class BundleSource:
    def __init__(self, store: ObjectStore | None = None) -> None:
        self.store = store

    async def fetch(self, ref: str) -> ModelBundle:
        if ref.startswith(BLOB_PREFIX):
            if self.store is None:
                raise FailedPrecondition("this worker has no object store to fetch bundles from")
            data = await self.store.get_bytes(ref.removeprefix(BLOB_PREFIX))
            return await asyncio.to_thread(ModelBundle.from_zip, data)
        return await asyncio.to_thread(_load_local, Path(ref))


def _load_local(path: Path) -> ModelBundle:
    if not path.exists():
        raise InvalidArgument(f"no bundle at {path}", field="bundle")
    return ModelBundle.load(path)
