"""Sampled request/response logging to the object store, for drift monitoring.

The request path only draws the sample and appends a reference to the request's arrays to a bounded
buffer (dropping and counting when full); a background task encodes the records (services.serving.
request_logs has the layout and format) and writes them every `flush_records` records or
`flush_seconds`, when a hosted model goes away, and at shutdown. A failed write is logged and counted;
inference never waits for, or fails because of, the object store.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter

from mlops.kernel.objectstore import ObjectStore
from services.serving.inference.codec import datatype_of
from services.serving.request_logs import MEDIA_TYPE, encode_lines, format_time, object_key

logger = logging.getLogger(__name__)

Tensors = dict[str, np.ndarray]


@dataclass(frozen=True)
class LogPolicy:
    """What the control plane asked for one hosted model (`<deployment>` or `<deployment>@r<n>`)."""

    deployment: str
    revision: int
    model: str
    model_version: int
    sample_rate: float
    max_payload_bytes: int


@dataclass
class _Pending:
    policy: LogPolicy
    arrived: float  # seconds since the epoch
    latency: float
    request_id: str
    protocol: str
    endpoint: str
    # infer: the arrays themselves (encoded later, off the request path); predict: JSON text; None
    # when the payload was over the cap.
    inputs: Tensors | str | None
    outputs: Tensors | str | None
    size: int


class RequestLogger:
    def __init__(
        self,
        store: ObjectStore,
        worker_id: str,
        *,
        registry: CollectorRegistry | None = None,
        flush_records: int = 1000,
        flush_seconds: float = 10.0,
        max_buffer_records: int = 10_000,
        max_buffer_bytes: int = 64 * 1024 * 1024,
        encoder: Executor | None = None,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        # Where records are turned into JSON: a process of its own keeps that work off the GIL the
        # event loop needs (the worker's choice); None: a thread.
        self.encoder = encoder
        self.worker_id = worker_id
        self.flush_records = flush_records
        self.flush_seconds = flush_seconds
        self.max_buffer_records = max_buffer_records
        self.max_buffer_bytes = max_buffer_bytes
        self._draw = draw
        self._policies: dict[str, LogPolicy] = {}
        self._pending: list[_Pending] = []
        self._pending_bytes = 0
        self._wake = asyncio.Event()
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._bucket_ready = False
        self.close_seconds = 30.0
        self.records = Counter(
            "mlops_inference_request_log_records",
            "Sampled requests by what became of their log record: written, buffer_full, write_failed.",
            ["outcome"],
            registry=registry,
        )
        self.write_errors = Counter(
            "mlops_inference_request_log_write_errors",
            "Request-log objects the object store refused or could not be reached for.",
            registry=registry,
        )

    # -- control ------------------------------------------------------------------------------------
    def set_policies(self, policies: dict[str, LogPolicy]) -> None:
        """Replaced whole on each heartbeat; a model that stopped logging has what it logged flushed."""
        gone = self._policies.keys() - policies.keys()
        self._policies = policies
        if gone and self._pending:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        """Write what is buffered and stop (a store that does not answer is given `close_seconds`)."""
        self._closed = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._task, self.close_seconds)
        else:
            await self.flush()

    # -- the request path ---------------------------------------------------------------------------
    def offer_infer(
        self, hosted: str, request_id: str, inputs: Tensors, outputs: Tensors, started: float, protocol: str
    ) -> None:
        """Called with every answered tensor request; keeps a sampled one (`started`: perf_counter)."""
        policy = self._sampled(hosted)
        if policy is None:
            return
        size = _tensor_bytes(inputs) + _tensor_bytes(outputs)
        fits = size <= policy.max_payload_bytes
        self._keep(
            _Pending(
                policy,
                *_timing(started),
                request_id,
                protocol,
                "infer",
                inputs if fits else None,
                outputs if fits else None,
                size if fits else 0,
            )
        )

    def offer_predict(
        self, hosted: str, instances: Sequence[Any], predictions: Sequence[Any], started: float, protocol: str
    ) -> None:
        """The scenario endpoint: instances are small and JSON already, so they are encoded here."""
        policy = self._sampled(hosted)
        if policy is None:
            return
        inputs = json.dumps(list(instances), default=_json_default, separators=(",", ":"))
        outputs = json.dumps(list(predictions), default=_json_default, separators=(",", ":"))
        size = len(inputs) + len(outputs)
        fits = size <= policy.max_payload_bytes
        self._keep(
            _Pending(
                policy,
                *_timing(started),
                "",
                protocol,
                "predict",
                inputs if fits else None,
                outputs if fits else None,
                size if fits else 0,
            )
        )

    def _sampled(self, hosted: str) -> LogPolicy | None:
        policy = self._policies.get(hosted)
        if policy is None or (policy.sample_rate < 1.0 and self._draw() >= policy.sample_rate):
            return None
        return policy

    def _keep(self, pending: _Pending) -> None:
        if (
            len(self._pending) >= self.max_buffer_records
            or self._pending_bytes + pending.size > self.max_buffer_bytes
        ):
            self.records.labels("buffer_full").inc()
            return
        self._pending.append(pending)
        self._pending_bytes += pending.size
        if len(self._pending) >= self.flush_records:
            self._wake.set()

    # -- the background writer ----------------------------------------------------------------------
    async def _run(self) -> None:
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_seconds)
            self._wake.clear()
            await self.flush()
        await self.flush()

    async def flush(self) -> None:
        """Write everything buffered now: one object per deployment and hour."""
        batch, self._pending, self._pending_bytes = self._pending, [], 0
        if not batch:
            return
        try:
            objects = await self._encode(batch)
        except Exception:
            logger.exception("request log records could not be encoded; %d dropped", len(batch))
            self.records.labels("write_failed").inc(len(batch))
            return
        for key, data, count in objects:
            await self._write(key, data, count)

    async def _encode(self, batch: list[_Pending]) -> list[tuple[str, bytes, int]]:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.encoder, _encoded, batch, self.worker_id)
        except BrokenProcessPool:
            # The encoder process died (a signal to the whole process group, say): go on in a thread.
            logger.warning("request log encoder process gone; encoding in a thread from now on")
            self.encoder = None
            return await loop.run_in_executor(None, _encoded, batch, self.worker_id)

    async def _write(self, key: str, data: bytes, count: int) -> None:
        try:
            if not self._bucket_ready:
                await self.store.ensure_bucket()
                self._bucket_ready = True
            await self.store.put_object(key, data, media_type=MEDIA_TYPE)
        except Exception as error:
            logger.warning("request log %s not written (%d records dropped): %s", key, count, error)
            self.write_errors.inc()
            self.records.labels("write_failed").inc(count)
            return
        self.records.labels("written").inc(count)


def _timing(started: float) -> tuple[float, float]:
    """(arrival in seconds since the epoch, latency in seconds) of a request begun at `started`."""
    latency = time.perf_counter() - started
    return time.time() - latency, latency


def _tensor_bytes(tensors: Tensors) -> int:
    total = 0
    for array in tensors.values():
        if array.dtype == np.object_:
            total += sum(len(v) for v in array.flat if isinstance(v, bytes | str))
        else:
            total += array.nbytes
    return total


def _encoded(batch: list[_Pending], worker_id: str) -> list[tuple[str, bytes, int]]:
    """(key, gzip JSON Lines, record count) per deployment and hour of arrival."""
    groups: dict[tuple[str, datetime], list[dict[str, Any]]] = defaultdict(list)
    for pending in batch:
        arrived = datetime.fromtimestamp(pending.arrived, UTC)
        hour = arrived.replace(minute=0, second=0, microsecond=0)
        groups[(pending.policy.deployment, hour)].append(_record(pending, arrived, worker_id))
    flushed = datetime.now(UTC)
    return [
        (
            object_key(deployment, hour, flushed, worker_id, uuid.uuid4().hex[:8]),
            encode_lines(records),
            len(records),
        )
        for (deployment, hour), records in groups.items()
    ]


def _record(pending: _Pending, arrived: datetime, worker_id: str) -> dict[str, Any]:
    policy = pending.policy
    truncated = pending.inputs is None
    return {
        "time": format_time(arrived),
        "deployment": policy.deployment,
        "revision": policy.revision,
        "model": policy.model,
        "model_version": policy.model_version,
        "request_id": pending.request_id or uuid.uuid4().hex,
        "protocol": pending.protocol,
        "endpoint": pending.endpoint,
        "latency_ms": round(pending.latency * 1000, 3),
        "worker_id": worker_id,
        "truncated": truncated,
        "inputs": _payload(pending.inputs),
        "outputs": _payload(pending.outputs),
    }


def _payload(payload: Tensors | str | None) -> Any:
    if payload is None:
        return None
    if isinstance(payload, str):
        return json.loads(payload)
    return [tensor_entry(name, array) for name, array in payload.items()]


def tensor_entry(name: str, array: np.ndarray) -> dict[str, Any]:
    """One tensor as a record holds it: name, datatype, shape and the row-major values."""
    datatype = datatype_of(array)
    entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
    if datatype != "BYTES":
        entry["data"] = array.ravel().tolist()
        return entry
    values = [v if isinstance(v, bytes) else str(v).encode() for v in array.ravel()]
    try:
        entry["data"], entry["encoding"] = [v.decode() for v in values], "utf-8"
    except UnicodeDecodeError:
        entry["data"], entry["encoding"] = [base64.b64encode(v).decode() for v in values], "base64"
    return entry


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")
