"""The models a worker hosts, by name: load, hot swap, unload, and the protocol queries about them.

A name maps to one serving replica. Loading a new version builds and warms it off the event loop,
then switches the name to it in one assignment (requests already running keep the old one), then
closes the old one once its last request answered. A load that fails leaves the previous version
serving and records the reason.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import mlops
from mlops.algorithms.registry import AlgorithmRegistry
from services.serving.inference.types import (
    InferenceRequest,
    InferenceResponse,
    ModelMetadata,
    ModelNotFound,
    ServerMetadata,
    Tensor,
    TensorSpec,
)
from services.serving.worker.bundles import BundleSource
from services.serving.worker.replica import ModelSpec, Replica, build_replica

__all__ = [
    "EmptyModelHost",
    "InferenceRequest",
    "InferenceResponse",
    "ModelHost",
    "ModelMetadata",
    "ModelNotFound",
    "ModelStatus",
    "OnnxModelHost",
    "ServerMetadata",
    "Tensor",
    "TensorSpec",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    """How a deployment's requests split: `weight` percent to the canary, a copy of each to the shadow
    (both hosted under names of their own, `<deployment>@r<revision>`)."""

    canary: str = ""
    weight: int = 0
    shadow: str = ""


@dataclass(frozen=True)
class ModelStatus:
    name: str
    # loading, ready or failed; `serving_version` is what answers meanwhile (empty when nothing does).
    state: str
    serving_version: str = ""
    provider: str = ""
    reason: str = ""
    replica_id: str = ""


class ModelHost(Protocol):
    """What the protocol handler asks of the worker."""

    def live(self) -> bool: ...

    def ready(self) -> bool: ...

    def server_metadata(self) -> ServerMetadata: ...

    def replica(self, name: str, version: str = "") -> Replica: ...

    def model_ready(self, name: str, version: str = "") -> bool: ...

    def model_metadata(self, name: str, version: str = "") -> ModelMetadata: ...

    def shadow_of(self, name: str) -> Replica | None: ...


class OnnxModelHost:
    def __init__(
        self,
        registry: AlgorithmRegistry | None = None,
        source: BundleSource | None = None,
        *,
        pool_threads: int = 2,
    ) -> None:
        self.registry = registry or AlgorithmRegistry.discover()
        self.source = source or BundleSource()
        # Models slower than a thread hand-off run here, so the event loop keeps reading requests.
        self.executor = ThreadPoolExecutor(max_workers=pool_threads, thread_name_prefix="inference")
        self.pool_threads = pool_threads
        self._replicas: dict[str, Replica] = {}
        self._status: dict[str, ModelStatus] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        # The last spec that failed per name: a broken bundle is not retried on every heartbeat.
        self._failed: dict[str, ModelSpec] = {}
        self._routes: dict[str, Route] = {}

    # -- the protocol's queries ---------------------------------------------------------------------
    def live(self) -> bool:
        return True

    def ready(self) -> bool:
        return True

    def server_metadata(self) -> ServerMetadata:
        return ServerMetadata(name="mlops", version=mlops.__version__, extensions=("binary_tensor_data",))

    def replica(self, name: str, version: str = "") -> Replica:
        route = self._routes.get(name)
        if route is not None:
            name = self._routed(name, version, route)
        replica = self._replicas.get(name)
        if replica is None or (version and version != replica.spec.version):
            raise ModelNotFound(name, version)
        return replica

    def _routed(self, name: str, version: str, route: Route) -> str:
        canary = self._replicas.get(route.canary)
        if canary is None:
            return name
        if version:
            # Asking for the canary's version by number reaches it directly.
            return route.canary if version == canary.spec.version else name
        return route.canary if random.random() * 100 < route.weight else name

    def shadow_of(self, name: str) -> Replica | None:
        route = self._routes.get(name)
        return self._replicas.get(route.shadow) if route is not None and route.shadow else None

    def set_routes(self, routes: dict[str, Route]) -> None:
        """The control plane's traffic policy, per deployment name; replaced whole on each heartbeat."""
        self._routes = routes

    def model_ready(self, name: str, version: str = "") -> bool:
        try:
            self.replica(name, version)
        except ModelNotFound:
            return False
        return True

    def model_metadata(self, name: str, version: str = "") -> ModelMetadata:
        return self.replica(name, version).metadata

    # -- management (never reachable from the data plane) -----------------------------------------
    def status(self, name: str) -> ModelStatus | None:
        return self._status.get(name)

    def statuses(self) -> list[ModelStatus]:
        return [self._status[name] for name in sorted(self._status)]

    def names(self) -> list[str]:
        return sorted(self._replicas)

    async def load(self, spec: ModelSpec) -> ModelStatus:
        """Load `spec` and make it answer for its name; returns the resulting status (failed or ready)."""
        lock = self._locks.setdefault(spec.name, asyncio.Lock())
        async with lock:
            previous = self._replicas.get(spec.name)
            serving = previous.spec.version if previous else ""
            self._status[spec.name] = ModelStatus(
                spec.name, "loading", serving, previous.provider if previous else "", "", spec.replica_id
            )
            try:
                bundle = await self.source.fetch(spec.bundle)
                replica, batch1 = await asyncio.to_thread(build_replica, spec, bundle, self.registry)
            except Exception as error:
                reason = str(error) or type(error).__name__
                logger.warning("model %s version %s failed to load: %s", spec.name, spec.version, reason)
                status = ModelStatus(
                    spec.name,
                    "failed",
                    serving,
                    previous.provider if previous else "",
                    reason,
                    spec.replica_id,
                )
                self._status[spec.name] = status
                self._failed[spec.name] = spec
                return status
            self._failed.pop(spec.name, None)
            replica.start(self.executor, batch1, slots=self.pool_threads)
            # The switch: one assignment on the event loop, so every request sees one version or the other.
            self._replicas[spec.name] = replica
            status = ModelStatus(spec.name, "ready", spec.version, replica.provider, "", spec.replica_id)
            self._status[spec.name] = status
        if previous is not None:
            await previous.drain_and_close()
        return status

    async def unload(self, name: str) -> None:
        replica = self._replicas.pop(name, None)
        self._status.pop(name, None)
        self._failed.pop(name, None)
        if replica is None:
            raise ModelNotFound(name)
        await replica.drain_and_close()
        logger.info("model %s unloaded", name)

    async def reconcile(self, specs: Iterable[ModelSpec]) -> list[ModelStatus]:
        """Host exactly `specs` (the control plane's assignments): load what is new or changed, unload
        the rest."""
        wanted = {spec.name: spec for spec in specs}
        for name in [n for n in self._replicas if n not in wanted]:
            await self.unload(name)
        for spec in wanted.values():
            current = self._replicas.get(spec.name)
            if current is not None and current.spec == spec:
                # Back to what already serves (a rollback after a failed load): report it again.
                if self._failed.pop(spec.name, None) is not None:
                    self._status[spec.name] = ModelStatus(
                        spec.name, "ready", spec.version, current.provider, "", spec.replica_id
                    )
                continue
            if self._failed.get(spec.name) == spec:
                continue
            await self.load(spec)
        return self.statuses()

    async def close(self) -> None:
        for name in list(self._replicas):
            await self.unload(name)
        self.executor.shutdown(wait=False)


class EmptyModelHost(OnnxModelHost):
    """A host with no models yet: live and ready, NOT_FOUND for every model."""

    def __init__(self) -> None:
        super().__init__(AlgorithmRegistry(), pool_threads=1)
