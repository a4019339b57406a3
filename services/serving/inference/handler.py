"""The protocol's logic: find the model, authorise, check inputs against its signature, run, answer.

Both adapters call this with decoded requests; every error is a kernel `DomainError`, which each
adapter maps once (gRPC status, HTTP status).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops.kernel.errors import DomainError, InvalidArgument
from services.serving.inference.auth import InvokeAuthorizer
from services.serving.inference.codec import NUMPY_DTYPES, datatype_of
from services.serving.inference.metrics import InferenceMetrics
from services.serving.inference.types import (
    InferenceRequest,
    InferenceResponse,
    ModelMetadata,
    ModelNotFound,
    ServerMetadata,
    Tensor,
)

if TYPE_CHECKING:
    from services.serving.worker.model_host import ModelHost
    from services.serving.worker.replica import Replica
    from services.serving.worker.request_log import RequestLogger

DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024

logger = logging.getLogger(__name__)


class InferenceHandler:
    def __init__(
        self,
        host: ModelHost,
        authorizer: InvokeAuthorizer,
        metrics: InferenceMetrics,
        *,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        request_log: RequestLogger | None = None,
    ) -> None:
        self.host = host
        self.authorizer = authorizer
        self.metrics = metrics
        self.max_request_bytes = max_request_bytes
        # Sampled requests and answers for drift monitoring (deployments with request logging on).
        self.request_log = request_log
        # Shadow calls in flight: held so they are not collected before they finish.
        self._mirrors: set[asyncio.Task[None]] = set()

    # -- health and metadata ------------------------------------------------------------------------
    def live(self) -> bool:
        return self.host.live()

    def ready(self) -> bool:
        return self.host.ready()

    def server_metadata(self) -> ServerMetadata:
        return self.host.server_metadata()

    def model_ready(self, name: str, version: str = "") -> bool:
        return self.host.model_ready(name, version)

    def model_metadata(self, name: str, version: str = "") -> ModelMetadata:
        return self.host.model_metadata(name, version)

    def needs_token(self, name: str, version: str = "") -> bool:
        """Whether a call to this model must carry a token; adapters skip reading headers otherwise."""
        if self.authorizer.verifier is None:
            return False
        try:
            return not self.host.replica(name, version).spec.public
        except ModelNotFound:
            return False

    def check_size(self, nbytes: int) -> None:
        """Adapters call this with the request's size before decoding anything."""
        if nbytes > self.max_request_bytes:
            raise InvalidArgument(
                f"request of {nbytes} bytes exceeds this worker's limit of {self.max_request_bytes}",
                field="inputs",
            )

    # -- inference ----------------------------------------------------------------------------------
    async def infer(self, request: InferenceRequest, protocol: str) -> InferenceResponse:
        started = time.perf_counter()
        code = "OK"
        # Metrics go under the name of the replica that answered: a canary's apart from the stable's.
        served = request.model_name
        try:
            replica = self.host.replica(request.model_name, request.model_version)
            if not replica.spec.public and self.authorizer.verifier is not None:
                await self.authorizer.authorize(False, request.authorization)
                replica = self.host.replica(request.model_name, request.model_version)
            served = replica.spec.name
            inputs = self._checked_inputs(replica, request.inputs)
            # No await between the lookup and `enter`: a swap cannot close this replica under us.
            replica.enter()
            try:
                outputs, stats = await replica.runner.submit(inputs)
            finally:
                replica.leave()
            self.metrics.observe_run(served, stats.batch_rows, stats.queue_seconds)
            self._mirror(request.model_name, inputs, outputs, protocol)
            if self.request_log is not None:
                self.request_log.offer_infer(served, request.id, inputs, outputs, started, protocol)
            return InferenceResponse(
                model_name=request.model_name,
                model_version=replica.spec.version,
                id=request.id,
                outputs=_selected_outputs(outputs, request.requested_outputs),
            )
        except DomainError as error:
            code = error.grpc_code_name
            raise
        except Exception:
            code = "INTERNAL"
            raise
        finally:
            self.metrics.observe(protocol, "infer", served, code, time.perf_counter() - started)

    async def predict(
        self, name: str, version: str, instances: Sequence[Any], authorization: str | None, protocol: str
    ) -> tuple[str, list[dict[str, Any]]]:
        """The scenario-level path: human-friendly inputs through the algorithm's own pre- and
        post-processing, the model call through the same runner (and batcher) as raw requests."""
        started = time.perf_counter()
        code = "OK"
        served = name
        try:
            await self._authorize(name, version, authorization)
            if not instances:
                raise InvalidArgument("send at least one instance", field="instances")
            replica = self.host.replica(name, version)
            served = replica.spec.name
            replica.enter()
            try:
                predictor = replica.predictor
                try:
                    tensors = predictor.preprocess(list(instances))
                except (ValueError, TypeError, KeyError) as error:
                    raise InvalidArgument(f"input not understood: {error}", field="instances") from None
                outputs, stats = await replica.runner.submit(tensors)
                results = predictor.postprocess(outputs, list(instances))
            finally:
                replica.leave()
            self.metrics.observe_run(served, stats.batch_rows, stats.queue_seconds)
            self._mirror(name, tensors, outputs, protocol)
            if self.request_log is not None:
                self.request_log.offer_predict(served, instances, results, started, protocol)
            return replica.spec.version, results
        except DomainError as error:
            code = error.grpc_code_name
            raise
        except Exception:
            code = "INTERNAL"
            raise
        finally:
            self.metrics.observe(protocol, "predict", served, code, time.perf_counter() - started)

    def _mirror(
        self, name: str, inputs: dict[str, np.ndarray], answered: dict[str, np.ndarray], protocol: str
    ) -> None:
        """A copy of the request to the deployment's shadow, if it has one; its answer is only compared."""
        shadow = self.host.shadow_of(name)
        if shadow is not None:
            task = asyncio.create_task(self._shadow_call(shadow, inputs, answered, protocol))
            self._mirrors.add(task)
            task.add_done_callback(self._mirrors.discard)

    async def _shadow_call(
        self, shadow: Replica, inputs: dict[str, np.ndarray], answered: dict[str, np.ndarray], protocol: str
    ) -> None:
        started = time.perf_counter()
        # A shadow's "errors" are its failures and its disagreements with the answer given (MISMATCH).
        code = "OK"
        shadow.enter()
        try:
            outputs, stats = await shadow.runner.submit(inputs)
            self.metrics.observe_run(shadow.spec.name, stats.batch_rows, stats.queue_seconds)
            same = outputs.keys() == answered.keys() and all(
                outputs[k].shape == answered[k].shape
                and np.allclose(outputs[k], answered[k], rtol=1e-3, atol=1e-5)
                for k in outputs
            )
            code = "OK" if same else "MISMATCH"
        except Exception as error:
            code = error.grpc_code_name if isinstance(error, DomainError) else "INTERNAL"
            logger.debug("shadow %s failed: %s", shadow.spec.name, error)
        finally:
            shadow.leave()
            self.metrics.observe(protocol, "shadow", shadow.spec.name, code, time.perf_counter() - started)

    async def _authorize(self, name: str, version: str, authorization: str | None) -> None:
        replica = self.host.replica(name, version)
        await self.authorizer.authorize(replica.spec.public, authorization)

    def _checked_inputs(self, replica: Replica, tensors: list[Tensor]) -> dict[str, np.ndarray]:
        declared = replica.inputs
        inputs: dict[str, np.ndarray] = {}
        nbytes = 0
        for tensor in tensors:
            spec = declared.get(tensor.name)
            if spec is None:
                raise InvalidArgument(
                    f"unknown input {tensor.name!r}; the model takes {', '.join(sorted(declared))}",
                    field=tensor.name,
                )
            if tensor.name in inputs:
                raise InvalidArgument("input sent twice", field=tensor.name)
            if tensor.datatype != spec.datatype:
                raise InvalidArgument(
                    f"datatype {tensor.datatype} where the model takes {spec.datatype}", field=tensor.name
                )
            _check_shape(tensor.name, tuple(tensor.array.shape), spec.shape)
            nbytes += tensor.array.nbytes
            inputs[tensor.name] = tensor.array
        missing = sorted(set(declared) - set(inputs))
        if missing:
            raise InvalidArgument(f"missing input {', '.join(missing)}", field=missing[0])
        self.check_size(nbytes)
        rows = {a.shape[0] for a in inputs.values() if a.ndim}
        if len(rows) > 1:
            raise InvalidArgument(f"inputs disagree on the batch dimension: {sorted(rows)}", field="inputs")
        return inputs


def _check_shape(name: str, shape: tuple[int, ...], declared: tuple[int, ...]) -> None:
    fits = len(shape) == len(declared) and all(
        d == -1 or d == s for s, d in zip(shape, declared, strict=True)
    )
    if not fits:
        raise InvalidArgument(f"shape {list(shape)} where the model takes {list(declared)}", field=name)


def _selected_outputs(outputs: dict[str, np.ndarray], requested: list[str]) -> list[Tensor]:
    names = requested or list(outputs)
    unknown = [n for n in names if n not in outputs]
    if unknown:
        raise InvalidArgument(f"unknown output {unknown[0]!r}; the model gives {', '.join(outputs)}")
    selected = []
    for name in names:
        array = outputs[name]
        datatype = datatype_of(array)
        if datatype != "BYTES" and array.dtype != NUMPY_DTYPES[datatype]:
            array = array.astype(NUMPY_DTYPES[datatype])
        selected.append(Tensor(name, datatype, tuple(array.shape), array))
    return selected
