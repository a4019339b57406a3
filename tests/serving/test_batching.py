"""The dynamic batcher: gathers concurrent requests into one model call and splits the answer."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from services.serving.inference.batching import DynamicBatcher, Runner, Tensors


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
