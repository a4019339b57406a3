"""The dynamic batcher: gathers concurrent requests into one model call and splits the answer."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from services.serving.inference.batching import DynamicBatcher, Runner, Tensors, preferred_batch_size


class Doubler:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, inputs: Tensors) -> Tensors:
        self.calls.append(len(inputs["x"]))
        return {"y": inputs["x"] * 2}


async def test_concurrent_requests_share_model_calls_and_get_their_own_rows() -> None:
    model = Doubler()
    with ThreadPoolExecutor(1) as pool:
        batcher = DynamicBatcher(model, pool, inline=False, max_batch_size=8, max_queue_delay=0.05)
        requests = [np.full((1, 3), i, dtype=np.float32) for i in range(8)]
        answers = await asyncio.gather(*(batcher.submit({"x": r}) for r in requests))
        await batcher.close()
    assert model.calls == [8]
    for request, (outputs, stats) in zip(requests, answers, strict=True):
        np.testing.assert_array_equal(outputs["y"], request * 2)
        assert stats.batch_rows == 8
        assert stats.queue_seconds >= 0


async def test_batches_respect_the_size_limit_and_shapes() -> None:
    model = Doubler()
    batcher = DynamicBatcher(model, None, inline=True, max_batch_size=4, max_queue_delay=0.0)
    small = [np.ones((2, 3), dtype=np.float32) for _ in range(3)]
    other = np.ones((1, 5), dtype=np.float32)
    answers = await asyncio.gather(*(batcher.submit({"x": r}) for r in [*small, other]))
    await batcher.close()
    # Two-row requests fill a batch of 4; the request of another shape never shares a call with them.
    assert sorted(model.calls) == [1, 2, 4]
    assert answers[3][0]["y"].shape == (1, 5)


async def test_an_idle_model_answers_without_waiting_for_company() -> None:
    model = Doubler()
    batcher = DynamicBatcher(model, None, inline=True, max_batch_size=64, max_queue_delay=0.0)
    _, stats = await batcher.submit({"x": np.ones((1, 2), dtype=np.float32)})
    await batcher.close()
    assert model.calls == [1] and stats.batch_rows == 1


async def test_a_failing_batch_fails_its_requests_and_the_queue_goes_on() -> None:
    calls = 0

    def flaky(inputs: Tensors) -> Tensors:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return {"y": inputs["x"]}

    batcher = DynamicBatcher(flaky, None, inline=True, max_batch_size=4, max_queue_delay=0.0)
    first = await asyncio.gather(batcher.submit({"x": np.ones((1, 1))}), return_exceptions=True)
    assert isinstance(first[0], RuntimeError)
    outputs, _ = await batcher.submit({"x": np.ones((1, 1))})
    await batcher.close()
    assert outputs["y"].shape == (1, 1)


async def test_the_unbatched_runner_uses_the_pool_for_slow_models() -> None:
    model = Doubler()
    with ThreadPoolExecutor(1) as pool:
        outputs, stats = await Runner(model, pool, inline=False).submit({"x": np.ones((3, 1))})
    assert stats.batch_rows == 3 and outputs["y"].sum() == 6


class Gate:
    """A model that holds every call until released: makes "a batch is running" observable."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)

    def __call__(self, inputs: Tensors) -> Tensors:
        self.calls.append(len(inputs["x"]))
        self.entered.release()
        self.release.wait(5)
        return {"y": inputs["x"] + 1}


async def _entered(gate: Gate) -> None:
    await asyncio.to_thread(gate.entered.acquire, True, 5)


async def test_requests_arriving_while_a_batch_runs_leave_together_as_the_next() -> None:
    gate = Gate()
    with ThreadPoolExecutor(1) as pool:
        batcher = DynamicBatcher(gate, pool, inline=False, max_batch_size=32, max_queue_delay=0.0)
        first = asyncio.ensure_future(batcher.submit({"x": np.zeros((1, 2), dtype=np.float32)}))
        await _entered(gate)
        # The model is busy: these five queue and must share one call once it frees.
        later = [
            asyncio.ensure_future(batcher.submit({"x": np.full((1, 2), i, dtype=np.float32)}))
            for i in range(5)
        ]
        await asyncio.sleep(0.01)
        gate.release.set()
        answers = await asyncio.gather(first, *later)
        await batcher.close()
    assert gate.calls == [1, 5]
    for i, (outputs, stats) in enumerate(answers[1:]):
        np.testing.assert_array_equal(outputs["y"], np.full((1, 2), i + 1))
        assert stats.batch_rows == 5 and stats.queue_seconds > 0


async def test_batches_run_in_as_many_slots_as_given() -> None:
    gate = Gate()
    with ThreadPoolExecutor(2) as pool:
        batcher = DynamicBatcher(gate, pool, inline=False, max_batch_size=4, max_queue_delay=0.0, slots=2)
        first = asyncio.ensure_future(batcher.submit({"x": np.zeros((1, 1))}))
        await _entered(gate)
        second = asyncio.ensure_future(batcher.submit({"x": np.zeros((1, 1))}))
        # A second batch starts while the first still runs: both threads work on the model.
        await _entered(gate)
        gate.release.set()
        await asyncio.gather(first, second)
        await batcher.close()
    assert gate.calls == [1, 1]


async def test_a_request_that_breaks_its_batch_fails_alone() -> None:
    def picky(inputs: Tensors) -> Tensors:
        if (inputs["x"] < 0).any():
            raise ValueError("negative input")
        return {"y": inputs["x"] * 3}

    batcher = DynamicBatcher(picky, None, inline=True, max_batch_size=8, max_queue_delay=0.0)
    values = [1.0, -1.0, 2.0]
    answers = await asyncio.gather(
        *(batcher.submit({"x": np.full((1, 1), v)}) for v in values), return_exceptions=True
    )
    await batcher.close()
    assert isinstance(answers[1], ValueError)
    assert answers[0][0]["y"][0, 0] == 3.0 and answers[2][0]["y"][0, 0] == 6.0  # type: ignore[index]


async def test_a_model_answering_the_wrong_number_of_rows_is_not_sliced_wrongly() -> None:
    def summing(inputs: Tensors) -> Tensors:
        return {"y": inputs["x"].sum(axis=0, keepdims=True)}

    batcher = DynamicBatcher(summing, None, inline=True, max_batch_size=8, max_queue_delay=0.0)
    answers = await asyncio.gather(*(batcher.submit({"x": np.full((1, 1), v)}) for v in (1.0, 2.0)))
    await batcher.close()
    # Run one by one instead: each request gets its own answer.
    assert [a[0]["y"][0, 0] for a in answers] == [1.0, 2.0]


async def test_a_part_filled_batch_waits_for_the_delay_and_a_full_one_does_not() -> None:
    model = Doubler()
    batcher = DynamicBatcher(model, None, inline=True, max_batch_size=3, max_queue_delay=0.05)
    lone = asyncio.ensure_future(batcher.submit({"x": np.ones((1, 1))}))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert model.calls == [] and not lone.done()
    _, stats = await lone
    assert model.calls == [1] and stats.queue_seconds >= 0.04
    await asyncio.gather(*(batcher.submit({"x": np.ones((1, 1))}) for _ in range(3)))
    await batcher.close()
    assert model.calls == [1, 3]


async def test_closing_fails_what_still_waits_and_refuses_new_requests() -> None:
    gate = Gate()
    with ThreadPoolExecutor(1) as pool:
        batcher = DynamicBatcher(gate, pool, inline=False, max_batch_size=1, max_queue_delay=0.0)
        running = asyncio.ensure_future(batcher.submit({"x": np.zeros((1, 1))}))
        await _entered(gate)
        waiting = asyncio.ensure_future(batcher.submit({"x": np.zeros((1, 1))}))
        await asyncio.sleep(0)
        await batcher.close()
        gate.release.set()
        assert (await running)[0]["y"][0, 0] == 1.0
        with pytest.raises(RuntimeError, match="unloaded"):
            await waiting
        with pytest.raises(RuntimeError, match="unloaded"):
            await batcher.submit({"x": np.zeros((1, 1))})


def test_the_preferred_batch_size_is_the_cheapest_per_row() -> None:
    # A fixed cost per call: the larger the batch the better, up to the limit.
    assert preferred_batch_size(lambda rows: 1.0 + rows * 0.1, 32) == 32
    assert preferred_batch_size(lambda rows: 1.0 + rows * 0.1, 24) == 24
    # Cheaper per row up to 4, dearer beyond (caches overflowing): 4.
    costs = {1: 1.0, 2: 1.6, 4: 2.8, 8: 8.0, 16: 40.0, 32: 100.0}
    tried: list[int] = []

    def seconds_for(rows: int) -> float:
        tried.append(rows)
        return costs[rows]

    assert preferred_batch_size(seconds_for, 32) == 4
    # 16 rows cost over twice the best per row: 32 was not tried.
    assert tried == [1, 2, 4, 8, 16]
    # Equal within the tolerance: the larger size.
    assert preferred_batch_size(lambda rows: rows * 1.0, 8) == 8
    assert preferred_batch_size(lambda rows: 1.0, 1) == 1


async def test_followers_are_answered_when_the_request_gathering_them_is_cancelled() -> None:
    model = Doubler()
    batcher = DynamicBatcher(model, None, inline=True, max_batch_size=8, max_queue_delay=0.0)
    leader = asyncio.ensure_future(batcher.submit({"x": np.ones((1, 1))}))
    followers = [asyncio.ensure_future(batcher.submit({"x": np.full((1, 1), 2.0)})) for _ in range(3)]
    await asyncio.sleep(0)  # all four queued; the first yields its turn
    leader.cancel()
    answers = await asyncio.gather(*followers)
    await batcher.close()
    assert leader.cancelled()
    assert [a[0]["y"][0, 0] for a in answers] == [4.0, 4.0, 4.0]
    assert sum(model.calls) == 4  # the cancelled request's row still ran, in the same call
