"""Helpers for tests that exercise events against real NATS and databases."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from mlops.kernel.events.bus import EventBus
from mlops.kernel.events.envelope import STREAM


async def eventually(
    condition: Callable[[], bool | Awaitable[bool]], *, within: float = 10.0, every: float = 0.05
) -> None:
    """Wait until `condition` holds, failing with AssertionError after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within:.1f}s")
        await asyncio.sleep(every)


async def stream_count(bus: EventBus, subjects: str, stream: str = STREAM) -> int:
    """How many messages the stream holds on subjects matching `subjects`."""
    info = await bus.js.stream_info(stream, subjects_filter=subjects)
    return sum((info.state.subjects or {}).values())
