"""An unreachable S3 endpoint becomes Unavailable after bounded retries, never a hang."""

from __future__ import annotations

import time

import pytest

from mlops.kernel.errors import Unavailable
from mlops.kernel.objectstore import ObjectStore
from mlops.kernel.settings import S3Settings
from mlops.stack.ports import free_port


async def test_unreachable_endpoint_raises_unavailable_in_bounded_time() -> None:
    # A port nothing listens on: connections are refused at once, as when the server is down.
    store = ObjectStore(S3Settings(endpoint=f"127.0.0.1:{free_port()}"))
    started = time.monotonic()

    with pytest.raises(Unavailable):
        await store.put_bytes(b"nowhere to go")

    assert time.monotonic() - started < 10
