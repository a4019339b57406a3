"""Running a model's requests: one at a time, or gathered into batches along the first dimension.

A batch closes when it holds `max_batch_size` rows or when its first request has waited
`max_queue_delay` seconds; with a delay of 0 it takes whatever queued up while the previous batch ran,
so batching never holds a request back on an idle model. Only requests whose inputs agree on every
dimension but the first share a batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

Tensors = dict[str, np.ndarray]
RunTensors = Callable[[Tensors], Tensors]


@dataclass(frozen=True)
class RunStats:
    """How a request was run: rows in its batch (its own rows without batching) and time queued."""

    batch_rows: int
    queue_seconds: float


class Runner:
    """Runs each request on its own: inline for models faster than a thread hand-off, else in the pool."""

    def __init__(self, run: RunTensors, executor: Executor | None, *, inline: bool) -> None:
        self.run = run
        self.executor = executor
        self.inline = inline or executor is None

    async def submit(self, inputs: Tensors) -> tuple[Tensors, RunStats]:
        rows = _rows(inputs)
        if self.inline:
            return self.run(inputs), RunStats(rows, 0.0)
        outputs = await asyncio.get_running_loop().run_in_executor(self.executor, self.run, inputs)
        return outputs, RunStats(rows, 0.0)

    async def close(self) -> None:
        return None


@dataclass
class _Queued:
    inputs: Tensors
    rows: int
    key: tuple[tuple[str, str, tuple[int, ...]], ...]
    future: asyncio.Future[tuple[Tensors, RunStats]]
    enqueued: float = field(default_factory=time.perf_counter)


class DynamicBatcher(Runner):
    def __init__(
        self,
        run: RunTensors,
        executor: Executor | None,
        *,
        inline: bool,
        max_batch_size: int,
        max_queue_delay: float,
    ) -> None:
        super().__init__(run, executor, inline=inline)
        self.max_batch_size = max(1, max_batch_size)
        self.max_queue_delay = max(0.0, max_queue_delay)
        self._queue: deque[_Queued] = deque()
        self._rows = 0
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def submit(self, inputs: Tensors) -> tuple[Tensors, RunStats]:
        if self._task is None:
            self._task = asyncio.create_task(self._serve(), name="dynamic-batcher")
        key = tuple((n, str(a.dtype), a.shape[1:]) for n, a in sorted(inputs.items()))
        item = _Queued(inputs, _rows(inputs), key, asyncio.get_running_loop().create_future())
        self._queue.append(item)
        self._rows += item.rows
        self._arrived.set()
        return await item.future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for item in self._queue:
            if not item.future.done():
                item.future.set_exception(RuntimeError("the model was unloaded"))
        self._queue.clear()

    async def _serve(self) -> None:
        while True:
            if not self._queue:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            await self._wait_for_rows()
            batch = self._take()
            try:
                await self._run_batch(batch)
            except Exception as error:  # one failed batch must not stop the model's queue
                logger.exception("batch of %d requests failed", len(batch))
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(error)

    async def _wait_for_rows(self) -> None:
        deadline = self._queue[0].enqueued + self.max_queue_delay
        while self._rows < self.max_batch_size:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return

    def _take(self) -> list[_Queued]:
        first = self._queue.popleft()
        batch, rows, skipped = [first], first.rows, []
        while self._queue and rows < self.max_batch_size:
            item = self._queue.popleft()
            if item.key == first.key and rows + item.rows <= self.max_batch_size:
                batch.append(item)
                rows += item.rows
            else:
                skipped.append(item)
        # Requests of another shape keep their place at the head of the queue.
        self._queue.extendleft(reversed(skipped))
        self._rows -= rows
        return batch

    async def _run_batch(self, batch: list[_Queued]) -> None:
        started = time.perf_counter()
        rows = sum(item.rows for item in batch)
        if len(batch) == 1:
            inputs = batch[0].inputs
        else:
            inputs = {name: np.concatenate([item.inputs[name] for item in batch]) for name in batch[0].inputs}
        if self.inline:
            outputs = self.run(inputs)
        else:
            outputs = await asyncio.get_running_loop().run_in_executor(self.executor, self.run, inputs)
        offset = 0
        for item in batch:
            part = {name: array[offset : offset + item.rows] for name, array in outputs.items()}
            offset += item.rows
            if not item.future.done():
                item.future.set_result((part, RunStats(rows, started - item.enqueued)))


def _rows(inputs: Tensors) -> int:
    for array in inputs.values():
        return int(array.shape[0]) if array.ndim else 1
    return 0
