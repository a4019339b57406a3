"""Running a model's requests: one at a time, or gathered into batches along the first dimension.

A batch closes when it holds `max_batch_size` rows or when its first request has waited
`max_queue_delay` seconds. With a delay of 0 the policy adapts to the load: a request reaching an idle
model runs at once (after the requests that arrived in the same event-loop turn joined it), and while
every slot is busy running a batch, arriving requests queue and leave together as the next batch.
Up to `slots` batches run at once (one per pool thread), so batching never has fewer cores for the
model than running requests one by one. Only requests whose inputs agree on every dimension but the
first share a batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

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
        assert self.executor is not None
        outputs: Tensors = await _in_pool(self.executor, self.run, inputs)
        return outputs, RunStats(rows, 0.0)

    async def close(self) -> None:
        return None


@dataclass
class _Queued:
    inputs: Tensors
    rows: int
    key: tuple[tuple[str, np.dtype[Any], tuple[int, ...]], ...]
    future: asyncio.Future[tuple[Tensors, RunStats]]
    enqueued: float = field(default_factory=time.perf_counter)


@dataclass
class _Outcome:
    """One request's share of a batch's answer, or the error its own run raised."""

    outputs: Tensors | None = None
    error: BaseException | None = None


class DynamicBatcher(Runner):
    def __init__(
        self,
        run: RunTensors,
        executor: Executor | None,
        *,
        inline: bool,
        max_batch_size: int,
        max_queue_delay: float,
        slots: int = 1,
    ) -> None:
        super().__init__(run, executor, inline=inline)
        self.max_batch_size = max(1, max_batch_size)
        self.max_queue_delay = max(0.0, max_queue_delay)
        # Inline batches block the event loop, so only one can ever be running.
        self.slots = 1 if self.inline else max(1, slots)
        self._queue: deque[_Queued] = deque()
        self._rows = 0
        self._running = 0
        self._dispatch_pending = False
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        # An inline request is gathering this loop turn's requests, to run them itself.
        self._leading = False

    async def submit(self, inputs: Tensors) -> tuple[Tensors, RunStats]:
        if self._closed:
            raise RuntimeError("the model was unloaded")
        loop = asyncio.get_running_loop()
        # The dtype object itself, not its name: str(dtype) costs more than the rest of the queueing.
        key = tuple((n, a.dtype, a.shape[1:]) for n, a in sorted(inputs.items()))
        item = _Queued(inputs, _rows(inputs), key, loop.create_future())
        self._queue.append(item)
        self._rows += item.rows
        if self.inline and self.max_queue_delay <= 0 and not self._leading:
            return await self._lead(item)
        if not self._dispatch_pending and self._running < self.slots:
            # At the end of this loop turn: requests that arrived in the same turn join this batch.
            self._dispatch_pending = True
            loop.call_soon(self._dispatch)
        return await item.future

    async def _lead(self, item: _Queued) -> tuple[Tensors, RunStats]:
        """An inline model with no delay: this request yields one loop turn, so that the requests
        arriving in the same turn queue behind it, then runs them all on the loop itself (a wake-up
        less per request than handing the batch to a dispatcher, which a model this fast notices)."""
        self._leading = True
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            # The followers must not wait for a leader that left: a dispatcher takes over.
            self._leading = False
            if self._queue and not self._dispatch_pending:
                self._dispatch_pending = True
                asyncio.get_running_loop().call_soon(self._dispatch)
            raise
        self._leading = False
        self._dispatch()
        return item.future.result()

    async def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for item in self._queue:
            if not item.future.done():
                item.future.set_exception(RuntimeError("the model was unloaded"))
        self._queue.clear()
        self._rows = 0

    def _dispatch(self) -> None:
        """Start batches while a slot is free and requests wait (on the event loop)."""
        self._dispatch_pending = False
        while self._queue and self._running < self.slots and not self._closed:
            if self._should_wait():
                return
            batch = self._take()
            self._running += 1
            if self.inline:
                started = time.perf_counter()
                self._finish(batch, started, self._execute(batch))
            else:
                self._launch(batch)

    def _should_wait(self) -> bool:
        """Hold a part-filled batch until its first request's delay runs out (arming a timer once)."""
        if self.max_queue_delay <= 0 or self._rows >= self.max_batch_size:
            return False
        remaining = self._queue[0].enqueued + self.max_queue_delay - time.perf_counter()
        if remaining <= 0:
            return False
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(remaining, self._on_timer)
        return True

    def _on_timer(self) -> None:
        self._timer = None
        self._dispatch()

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

    def _launch(self, batch: list[_Queued]) -> None:
        """Run the batch in the pool; the answer comes back to the loop in one thread-safe callback."""
        assert self.executor is not None
        loop = asyncio.get_running_loop()
        started = time.perf_counter()

        def work() -> None:
            try:
                outcomes = self._execute(batch)
            except BaseException as error:  # never leave the batch's callers waiting
                outcomes = [_Outcome(error=error) for _ in batch]
            try:
                loop.call_soon_threadsafe(self._finish, batch, started, outcomes)
            except RuntimeError:  # the loop closed while the model ran: nobody waits for the answer
                pass

        try:
            self.executor.submit(work)
        except RuntimeError as error:  # the pool was shut down (the worker is stopping)
            self._finish(batch, started, [_Outcome(error=error) for _ in batch])

    def _execute(self, batch: list[_Queued]) -> list[_Outcome]:
        """Concatenate, run and split (in the pool for slow models, so the loop keeps serving)."""
        if len(batch) == 1:
            return [self._run_alone(batch[0])]
        names = batch[0].inputs
        rows = sum(item.rows for item in batch)
        try:
            outputs = self.run(
                {name: np.concatenate([item.inputs[name] for item in batch]) for name in names}
            )
            wrong = [n for n, a in outputs.items() if a.ndim == 0 or a.shape[0] != rows]
            if wrong:
                raise ValueError(f"output {wrong[0]} does not have one row per input row")
        except Exception:
            # Run each request on its own, so only the one that breaks the model gets the error.
            logger.warning("batch of %d requests failed; running them one by one", len(batch), exc_info=True)
            return [self._run_alone(item) for item in batch]
        outcomes, offset = [], 0
        for item in batch:
            outcomes.append(
                _Outcome({name: array[offset : offset + item.rows] for name, array in outputs.items()})
            )
            offset += item.rows
        return outcomes

    def _run_alone(self, item: _Queued) -> _Outcome:
        try:
            return _Outcome(self.run(item.inputs))
        except Exception as error:
            return _Outcome(error=error)

    def _finish(self, batch: list[_Queued], started: float, outcomes: list[_Outcome]) -> None:
        rows = sum(item.rows for item in batch)
        for item, outcome in zip(batch, outcomes, strict=True):
            if item.future.done():  # its caller went away (cancelled)
                continue
            if outcome.error is not None:
                item.future.set_exception(outcome.error)
            else:
                assert outcome.outputs is not None
                item.future.set_result((outcome.outputs, RunStats(rows, started - item.enqueued)))
        self._running -= 1
        if self._queue and not self.inline:
            self._dispatch()


async def _in_pool(executor: Executor, run: RunTensors, inputs: Tensors) -> Tensors:
    """`run(inputs)` in the pool, answered through one thread-safe callback (less than
    `run_in_executor`'s two chained futures)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Tensors] = loop.create_future()

    def deliver(outputs: Tensors | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(outputs)  # type: ignore[arg-type]

    def work() -> None:
        try:
            outputs, error = run(inputs), None
        except Exception as raised:
            outputs, error = None, raised
        try:
            loop.call_soon_threadsafe(deliver, outputs, error)
        except RuntimeError:  # the loop closed meanwhile
            pass

    executor.submit(work)
    return await future


def _rows(inputs: Tensors) -> int:
    for array in inputs.values():
        return int(array.shape[0]) if array.ndim else 1
    return 0


def preferred_batch_size(seconds_for: Callable[[int], float], limit: int, *, tolerance: float = 0.05) -> int:
    """The batch size, up to `limit`, that costs the model least per row: batching pays on the model's
    side only up to it (on a CPU, large batches of a convolutional net can cost more per row than
    small ones, their activations falling out of the caches).

    `seconds_for(rows)` times one call of `rows` rows. Tries powers of two and `limit`, stopping once
    a size costs twice the best per row; of the sizes within `tolerance` of the best it takes the
    largest (fewer calls for the same rows)."""
    limit = max(1, limit)
    sizes = sorted({*(2**i for i in range(limit.bit_length()) if 2**i <= limit), limit})
    per_row: dict[int, float] = {}
    for size in sizes:
        per_row[size] = seconds_for(size) / size
        if per_row[size] > 2 * min(per_row.values()):
            break
    best = min(per_row.values())
    return max(size for size, cost in per_row.items() if cost <= best * (1 + tolerance))
