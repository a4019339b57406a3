"""One loaded model version: its onnxruntime session, its predictor and the runner in front of them.

Requests hold the replica while they run (`use`), so a swapped-out replica is closed only after its
last request has answered.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlops.algorithms.bundle import ModelBundle
from mlops.algorithms.predictor import OnnxBackend, Predictor
from mlops.algorithms.registry import AlgorithmRegistry
from services.serving.inference.batching import DynamicBatcher, Runner, Tensors
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
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def session(self) -> Any:
        backend = self.predictor.backend
        return getattr(backend, "session", None)

    def start(self, executor: Executor | None, batch1_seconds: float) -> None:
        inline = batch1_seconds < INLINE_BELOW_SECONDS
        run = self.predictor.run_tensors
        if self.spec.batching.enabled and _batchable(self.bundle):
            self.runner = DynamicBatcher(
                run,
                executor,
                inline=inline,
                max_batch_size=self.spec.batching.max_batch_size,
                max_queue_delay=self.spec.batching.max_queue_delay,
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
            "dynamic batching" if isinstance(self.runner, DynamicBatcher) else "no batching",
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
    predictor = registry.predictor(bundle, device=spec.device)
    backend = OnnxBackend(bundle.onnx_model, bundle.signature, device=spec.device, threads=spec.threads)
    predictor.backend = backend
    provider = backend.session.get_providers()[0]
    replica = Replica(spec, bundle, predictor, provider)
    example = warmup_inputs(bundle)
    timings = []
    for _ in range(_WARMUP_CALLS):
        started = time.perf_counter()
        predictor.run_tensors(example)
        timings.append(time.perf_counter() - started)
    return replica, statistics.median(timings)


def warmup_inputs(bundle: ModelBundle) -> Tensors:
    """Zeros of the signature's shapes, variable dimensions as 1: the first run allocates, not a request."""
    return {
        t.name: np.zeros([1 if d == -1 else d for d in t.shape], dtype=NUMPY_DTYPES[t.datatype])
        for t in bundle.signature.inputs
        if t.datatype != "BYTES"
    }
