"""One loaded model version: its onnxruntime session, its predictor and the runner in front of them.

Requests hold the replica while they run (`use`), so a swapped-out replica is closed only after its
last request has answered.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import statistics
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlops.algorithms.bundle import ModelBundle
from mlops.algorithms.predictor import Predictor
from mlops.algorithms.registry import AlgorithmRegistry
from mlops.algorithms.runtime import session_threads
from services.serving.inference.batching import DynamicBatcher, Runner, Tensors, preferred_batch_size
from services.serving.inference.codec import NUMPY_DTYPES
from services.serving.inference.types import ModelMetadata, TensorSpec

logger = logging.getLogger(__name__)

# A model whose batch-1 call is faster than this runs on the event loop: a thread hand-off costs more.
INLINE_BELOW_SECONDS = 0.0002
_WARMUP_CALLS = 5


@dataclass(frozen=True)
class Batching:
    max_batch_size: int = 0
    # Seconds the first request of a batch may wait for more.
    max_queue_delay: float = 0.0

    @property
    def enabled(self) -> bool:
        return self.max_batch_size > 1


@dataclass(frozen=True)
class ModelSpec:
    """What to host: the control plane's replica assignment in the worker's terms."""

    name: str
    # A bundle directory or zip on this machine, or `blob:<sha256>` in the object store.
    bundle: str
    version: str = "1"
    replica_id: str = ""
    public: bool = False
    device: str = "auto"
    threads: int | None = None
    batching: Batching = Batching()


class Replica:
    def __init__(self, spec: ModelSpec, bundle: ModelBundle, predictor: Predictor, provider: str) -> None:
        self.spec = spec
        self.bundle = bundle
        self.predictor = predictor
        self.provider = provider
        self.inputs = {t.name: t for t in bundle.signature.inputs}
        self.metadata = ModelMetadata(
            name=spec.name,
            versions=(spec.version,),
            platform="onnxruntime_onnx",
            inputs=tuple(TensorSpec(t.name, t.datatype, t.shape) for t in bundle.signature.inputs),
            outputs=tuple(TensorSpec(t.name, t.datatype, t.shape) for t in bundle.signature.outputs),
        )
        self.runner: Runner = Runner(predictor.run_tensors, None, inline=True)
        # Rows per model call that cost the model least per row (measured by `build_replica`).
        self.preferred_batch_size = spec.batching.max_batch_size
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def session(self) -> Any:
        backend = self.predictor.backend
        return getattr(backend, "session", None)

    def start(self, executor: Executor | None, batch1_seconds: float, *, slots: int = 1) -> None:
        """Put the runner in front of the session; `slots`: batches that may run at once (the pool's
        threads), so batching keeps as many cores on the model as running requests one by one."""
        inline = batch1_seconds < INLINE_BELOW_SECONDS
        run = self.predictor.run_tensors
        if self.spec.batching.enabled and _batchable(self.bundle):
            self.runner = DynamicBatcher(
                run,
                executor,
                inline=inline,
                max_batch_size=min(self.spec.batching.max_batch_size, self.preferred_batch_size),
                max_queue_delay=self.spec.batching.max_queue_delay,
                slots=slots,
            )
        else:
            self.runner = Runner(run, executor, inline=inline)
        logger.info(
            "model %s version %s ready on %s (batch-1 %.3f ms, %s, %s)",
            self.spec.name,
            self.spec.version,
            self.provider,
            batch1_seconds * 1000,
            "inline" if self.runner.inline else "thread pool",
            f"dynamic batching, up to {self.runner.max_batch_size} rows per call"
            if isinstance(self.runner, DynamicBatcher)
            else "no batching",
        )

    def enter(self) -> None:
        """A request starts using this replica (paired with `leave`; cheaper than a context manager
        on the hot path)."""
        self._in_flight += 1
        self._idle.clear()

    def leave(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0:
            self._idle.set()

    async def run(self, inputs: Tensors) -> Tensors:
        outputs, _ = await self.runner.submit(inputs)
        return outputs

    async def drain_and_close(self) -> None:
        await self._idle.wait()
        await self.runner.close()
        # Dropping the predictor and the runner's hold on it drops the session and the memory
        # onnxruntime holds for it, even while something still refers to this replica object.
        self.runner = Runner(_unloaded, None, inline=True)
        self.predictor = None  # type: ignore[assignment]


def _unloaded(inputs: Tensors) -> Tensors:
    raise RuntimeError("the model was unloaded")


def _batchable(bundle: ModelBundle) -> bool:
    tensors = (*bundle.signature.inputs, *bundle.signature.outputs)
    return all(t.shape and t.shape[0] == -1 for t in tensors)


def build_replica(spec: ModelSpec, bundle: ModelBundle, registry: AlgorithmRegistry) -> tuple[Replica, float]:
    """Load and warm a replica (blocking: run it in a thread). Returns it with its batch-1 call time."""
    # One session, built with the replica's threads (building a second one would hold the model twice).
    with session_threads(spec.threads):
        predictor = registry.predictor(bundle, device=spec.device)
    provider = provider_of(predictor)
    # The replica needs only the bundle's signature. Without the serialized model, a reference to an
    # unloaded replica left anywhere (a finished future, a request's frame) cannot pin its bytes.
    replica = Replica(spec, dataclasses.replace(bundle, onnx_model=b""), predictor, provider)
    example = warmup_inputs(bundle)
    timings = []
    for _ in range(_WARMUP_CALLS):
        started = time.perf_counter()
        predictor.run_tensors(example)
        timings.append(time.perf_counter() - started)
    if spec.batching.enabled and _batchable(bundle) and len(example) == len(bundle.signature.inputs):
        replica.preferred_batch_size = preferred_batch_size(
            lambda rows: _call_seconds(predictor, example, rows), spec.batching.max_batch_size
        )
    return replica, statistics.median(timings)


def _call_seconds(predictor: Predictor, example: Tensors, rows: int) -> float:
    """The best of several timed calls of `rows` rows (after one untimed: a new shape allocates).
    At least 3 calls and 64 rows or 0.2 s in all, so that the best is near the true cost even on a
    busy machine."""
    inputs = {name: np.repeat(array, rows, axis=0) for name, array in example.items()}
    predictor.run_tensors(inputs)
    best, calls, spent = float("inf"), 0, 0.0
    while calls < 3 or (calls * rows < 64 and spent < 0.2):
        started = time.perf_counter()
        predictor.run_tensors(inputs)
        took = time.perf_counter() - started
        best, calls, spent = min(best, took), calls + 1, spent + took
    return best


def provider_of(predictor: Predictor) -> str:
    """The execution provider its onnxruntime session took ("unknown" for a plug-in's own backend)."""
    session = getattr(predictor.backend, "session", None)
    return str(session.get_providers()[0]) if session is not None else "unknown"


def warmup_inputs(bundle: ModelBundle) -> Tensors:
    """Zeros of the signature's shapes, variable dimensions as 1: the first run allocates, not a request."""
    return {
        t.name: np.zeros([1 if d == -1 else d for d in t.shape], dtype=NUMPY_DTYPES[t.datatype])
        for t in bundle.signature.inputs
        if t.datatype != "BYTES"
    }
