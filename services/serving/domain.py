"""The serving domain: deployments, their revisions, traffic policy and replicas. Pure Python.

Every change to what a deployment serves (model version, resources, batching, replica count) is a new
revision; the traffic policy says which revisions answer (stable, canary by weight) or only listen
(shadow). Rollback may go to any earlier revision, and records why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from mlops.kernel.errors import FailedPrecondition, InvalidArgument, NotFound

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
POOLS = ("cpu", "gpu")
# Request logging: every request unless told otherwise; a record keeps at most this many tensor bytes.
DEFAULT_REQUEST_LOG_SAMPLE_RATE = 1.0
DEFAULT_REQUEST_LOG_MAX_PAYLOAD_BYTES = 64 * 1024
MAX_REQUEST_LOG_PAYLOAD_BYTES = 16 * 1024 * 1024


class ReplicaState(StrEnum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"
    DRAINING = "draining"


class DeploymentState(StrEnum):
    PENDING = "pending"
    READY = "ready"
    DEGRADED = "degraded"
    FAILED = "failed"
    STOPPED = "stopped"
    IDLE = "idle"


@dataclass(frozen=True)
class Resources:
    memory_bytes: int = 256 * 1024 * 1024
    threads: int = 1
    # Fraction of one GPU; only the gpu pool has any.
    gpu_share: float = 0.0

    def validate(self, pool: str) -> None:
        if self.memory_bytes <= 0 or self.threads <= 0:
            raise InvalidArgument("memory and threads must be positive", field="resources")
        if not 0.0 <= self.gpu_share <= 1.0:
            raise InvalidArgument("gpu_share must lie in [0, 1]", field="resources.gpu_share")
        if self.gpu_share and pool == "cpu":
            raise InvalidArgument("the cpu pool has no GPU to share", field="resources.gpu_share")


@dataclass(frozen=True)
class Batching:
    max_batch_size: int = 0
    max_queue_delay_us: int = 0

    def validate(self) -> None:
        if self.max_batch_size < 0 or self.max_queue_delay_us < 0:
            raise InvalidArgument("batching settings must not be negative", field="batching")


@dataclass(frozen=True)
class Bundle:
    """Where the model version's bundle lies (from the registry)."""

    uri: str
    sha256: str = ""


@dataclass(frozen=True)
class Revision:
    number: int
    model: str
    version: int
    bundle: Bundle
    resources: Resources
    batching: Batching
    replicas: int
    created_at: datetime
    created_by: str
    reason: str = ""


@dataclass
class TrafficPolicy:
    stable: int = 0
    canary: int = 0
    canary_weight: int = 0
    shadow: int = 0
    # Automatic rollback thresholds for the canary; 0 turns a check off.
    max_error_rate: float = 0.0
    max_p99_latency_ms: float = 0.0

    def revisions(self) -> list[int]:
        return [n for n in (self.stable, self.canary, self.shadow) if n]


@dataclass
class Replica:
    id: str
    worker_id: str
    revision: int
    state: ReplicaState = ReplicaState.LOADING
    reason: str = ""
    provider: str = ""


@dataclass(frozen=True)
class Traffic:
    """What the workers observed for one deployment (totals since each worker started)."""

    requests: int = 0
    errors: int = 0
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0
    mean_batch_size: float = 0.0
    mean_queue_time_ms: float = 0.0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass
class Deployment:
    name: str
    pool: str
    owner: str
    created_at: datetime
    public: bool = False
    request_logging: bool = False
    # Deployment-wide, like request_logging: changing them makes no new revision.
    request_log_sample_rate: float = DEFAULT_REQUEST_LOG_SAMPLE_RATE
    request_log_max_payload_bytes: int = DEFAULT_REQUEST_LOG_MAX_PAYLOAD_BYTES
    idle_after_seconds: int = 0
    ttl_seconds: int = 0
    scenario: str = ""
    revisions: list[Revision] = field(default_factory=list)
    traffic: TrafficPolicy = field(default_factory=TrafficPolicy)
    replicas: list[Replica] = field(default_factory=list)
    # Stable revisions in the order they took over: rollback's default goes one back.
    stable_history: list[int] = field(default_factory=list)
    last_request_at: datetime | None = None
    stopped_reason: str = ""
    observed: Traffic = field(default_factory=Traffic)

    @staticmethod
    def create(
        name: str, pool: str, owner: str, now: datetime, revision: Revision, **options: object
    ) -> Deployment:
        if not _NAME.match(name):
            raise InvalidArgument("a deployment name is lowercase letters, digits and dashes", field="name")
        if pool not in POOLS and not _NAME.match(pool):
            raise InvalidArgument(f"unknown pool {pool!r}", field="pool")
        deployment = Deployment(name=name, pool=pool, owner=owner, created_at=now, **options)  # type: ignore[arg-type]
        _check_request_logging(deployment.request_log_sample_rate, deployment.request_log_max_payload_bytes)
        deployment._check(revision)
        deployment.revisions.append(revision)
        deployment._make_stable(revision.number)
        return deployment

    # -- queries ------------------------------------------------------------------------------------

    @property
    def stopped(self) -> bool:
        return bool(self.stopped_reason)

    @property
    def stable(self) -> Revision:
        return self.revision(self.traffic.stable)

    def revision(self, number: int) -> Revision:
        for revision in self.revisions:
            if revision.number == number:
                return revision
        raise NotFound(f"deployment {self.name} has no revision {number}", field="revision")

    def next_number(self) -> int:
        return max((r.number for r in self.revisions), default=0) + 1

    def state(self, now: datetime) -> DeploymentState:
        if self.stopped:
            return DeploymentState.STOPPED
        serving = [r for r in self.replicas if r.revision == self.traffic.stable]
        ready = [r for r in serving if r.state == ReplicaState.READY]
        if serving and all(r.state == ReplicaState.FAILED for r in serving):
            return DeploymentState.FAILED
        if len(ready) < self.stable.replicas:
            return DeploymentState.DEGRADED if ready else DeploymentState.PENDING
        if self.is_idle(now):
            return DeploymentState.IDLE
        return DeploymentState.READY

    def is_idle(self, now: datetime) -> bool:
        if not self.idle_after_seconds:
            return False
        since = self.last_request_at or self.created_at
        return now - since >= timedelta(seconds=self.idle_after_seconds)

    def ttl_expired(self, now: datetime) -> bool:
        return bool(self.ttl_seconds) and now - self.created_at >= timedelta(seconds=self.ttl_seconds)

    # -- changes ------------------------------------------------------------------------------------

    def add_revision(self, revision: Revision, *, canary_weight: int = 0, shadow: bool = False) -> None:
        """A new revision: it takes all traffic once warm, or starts as canary (weight) or shadow."""
        self._require_running()
        self._check(revision)
        if not 0 <= canary_weight <= 100:
            raise InvalidArgument("canary weight is a percentage (0-100)", field="canary_weight")
        self.revisions.append(revision)
        if shadow:
            self.traffic.shadow = revision.number
        elif canary_weight:
            self.traffic.canary, self.traffic.canary_weight = revision.number, canary_weight
        else:
            self._make_stable(revision.number)

    def derive(self, now: datetime, by: str, reason: str, **changes: Any) -> Revision:
        """The stable revision with `changes`, numbered as the next one."""
        return replace(
            self.stable, number=self.next_number(), created_at=now, created_by=by, reason=reason, **changes
        )

    def scale(self, replicas: int, now: datetime, by: str) -> Revision:
        if replicas < 1:
            raise InvalidArgument(
                "a deployment needs at least one replica (stop it instead)", field="replicas"
            )
        revision = self.derive(now, by, f"scale to {replicas}", replicas=replicas)
        self.add_revision(revision)
        return revision

    def set_traffic(self, policy: TrafficPolicy) -> None:
        self._require_running()
        for number in policy.revisions():
            self.revision(number)
        if not policy.stable:
            raise InvalidArgument("traffic needs a stable revision", field="traffic.stable_revision")
        if not 0 <= policy.canary_weight <= 100 or (policy.canary and not policy.canary_weight):
            raise InvalidArgument("a canary needs a weight in 1-100", field="traffic.canary_weight")
        if policy.max_error_rate < 0 or policy.max_p99_latency_ms < 0:
            raise InvalidArgument("rollback thresholds must not be negative", field="traffic")
        if policy.stable != self.traffic.stable:
            self._make_stable(policy.stable)
        self.traffic = replace(policy, canary_weight=policy.canary_weight if policy.canary else 0)

    def promote(self) -> int:
        """The canary (or else the shadow) becomes stable; returns its number."""
        self._require_running()
        candidate = self.traffic.canary or self.traffic.shadow
        if not candidate:
            raise FailedPrecondition(f"deployment {self.name} has no canary or shadow to promote")
        self._make_stable(candidate)
        return candidate

    def rollback(self, to_revision: int = 0) -> tuple[int, int]:
        """Back to `to_revision` (0: the stable revision before this one); returns (from, to)."""
        self._require_running()
        current = self.traffic.stable
        if to_revision:
            self.revision(to_revision)
        else:
            earlier = [n for n in self.stable_history if n != current]
            if not earlier:
                raise FailedPrecondition(f"deployment {self.name} has no earlier revision to roll back to")
            to_revision = earlier[-1]
        if to_revision == current and not (self.traffic.canary or self.traffic.shadow):
            raise FailedPrecondition(f"revision {to_revision} already serves {self.name}")
        if to_revision == current:
            # Dropping the canary (or shadow) is the rollback: from it back to the stable.
            current = self.traffic.canary or self.traffic.shadow
        self.traffic.canary = self.traffic.canary_weight = self.traffic.shadow = 0
        if to_revision != self.traffic.stable:
            dropped = self.traffic.stable
            self._make_stable(to_revision, remember=False)
            self.stable_history = [n for n in self.stable_history if n != dropped]
        return current, to_revision

    def canary_breach(self, canary: Traffic) -> str:
        """Why the canary must be rolled back, or "" while it stays within its thresholds."""
        policy = self.traffic
        if not policy.canary or not canary.requests:
            return ""
        if policy.max_error_rate and canary.error_rate > policy.max_error_rate:
            return f"canary error rate {canary.error_rate:.3f} over {policy.max_error_rate:.3f}"
        if policy.max_p99_latency_ms and canary.latency_p99_ms > policy.max_p99_latency_ms:
            return f"canary p99 {canary.latency_p99_ms:.1f} ms over {policy.max_p99_latency_ms:.1f} ms"
        return ""

    def observe(self, traffic: Traffic, now: datetime) -> None:
        if traffic.requests > self.observed.requests:
            self.last_request_at = now
        self.observed = traffic

    def set_request_logging(
        self, enabled: bool | None, sample_rate: float | None, max_payload_bytes: int | None
    ) -> None:
        """Switch request logging or change its settings in place (None: leave as is); the workers pick
        the change up at their next heartbeat, without reloading anything."""
        rate = self.request_log_sample_rate if sample_rate is None else sample_rate
        cap = self.request_log_max_payload_bytes if max_payload_bytes is None else max_payload_bytes
        _check_request_logging(rate, cap)
        self.request_log_sample_rate, self.request_log_max_payload_bytes = rate, cap
        if enabled is not None:
            self.request_logging = enabled

    def stop(self, reason: str) -> None:
        self._require_running()
        self.stopped_reason = reason or "stopped"
        self.replicas = []

    def report(self, replica_id: str, state: ReplicaState, reason: str, provider: str) -> bool:
        for replica in self.replicas:
            if replica.id == replica_id:
                changed = (replica.state, replica.reason, replica.provider) != (state, reason, provider)
                replica.state, replica.reason, replica.provider = state, reason, provider
                return changed
        return False

    def _make_stable(self, number: int, *, remember: bool = True) -> None:
        self.traffic.stable = number
        if self.traffic.canary == number:
            self.traffic.canary = self.traffic.canary_weight = 0
        if self.traffic.shadow == number:
            self.traffic.shadow = 0
        if remember:
            self.stable_history = [n for n in self.stable_history if n != number] + [number]

    def _check(self, revision: Revision) -> None:
        revision.resources.validate(self.pool)
        revision.batching.validate()
        if revision.replicas < 1:
            raise InvalidArgument("a deployment needs at least one replica", field="replicas")

    def _require_running(self) -> None:
        if self.stopped:
            raise FailedPrecondition(f"deployment {self.name} is stopped")


def _check_request_logging(sample_rate: float, max_payload_bytes: int) -> None:
    if not 0.0 < sample_rate <= 1.0:
        raise InvalidArgument(
            "the request log sample rate is a fraction of requests, 0 < rate <= 1",
            field="request_log_sample_rate",
        )
    if not 0 < max_payload_bytes <= MAX_REQUEST_LOG_PAYLOAD_BYTES:
        raise InvalidArgument(
            f"the request log payload cap lies in 1..{MAX_REQUEST_LOG_PAYLOAD_BYTES} bytes",
            field="request_log_max_payload_bytes",
        )
