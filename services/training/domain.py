"""The run aggregate and the rules of the training service, in plain Python (no framework imports).

A run moves queued -> running -> succeeded | failed | cancelled, with stopping between running and
cancelled; a queued run may be cancelled at once. Every transition is kept with its time, actor and
reason. The service layer loads a run, calls one of its methods and stores what changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from mlops.kernel.errors import AlreadyExists, FailedPrecondition, InvalidArgument, PermissionDenied


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    STOPPING = "stopping"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES

    @property
    def is_active(self) -> bool:
        return not self.is_final


FINAL_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})
ACTIVE_STATUSES = frozenset(set(RunStatus) - FINAL_STATUSES)

ALLOWED_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.FAILED}),
    RunStatus.RUNNING: frozenset(
        {RunStatus.STOPPING, RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}
    ),
    # A trainer that finishes its last epoch while a stop is on its way still succeeded.
    RunStatus.STOPPING: frozenset({RunStatus.CANCELLED, RunStatus.FAILED, RunStatus.SUCCEEDED}),
    RunStatus.SUCCEEDED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
}

WORKER_LOST = "worker lost"


@dataclass(frozen=True)
class Transition:
    status: RunStatus
    at: datetime
    actor: str
    reason: str = ""


@dataclass(frozen=True)
class DatasetRef:
    dataset_id: str
    number: int
    manifest_digest: str = ""


@dataclass(frozen=True)
class CodeVersion:
    package_version: str
    git_revision: str
    library_versions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Artifact:
    name: str
    uri: str
    sha256: str
    size_bytes: int
    media_type: str = "application/octet-stream"


@dataclass
class Run:
    id: str
    name: str
    owner: str
    dataset: DatasetRef
    algorithm_id: str
    algorithm_version: str
    parameters: dict[str, Any]
    defaulted_parameters: list[str]
    seed: int
    pool: str
    code_version: CodeVersion
    created_at: datetime
    status: RunStatus = RunStatus.QUEUED
    transitions: list[Transition] = field(default_factory=list)
    idempotency_key: str = ""
    request_digest: str = ""
    inputs_digest: str = ""
    summary_metrics: dict[str, float] = field(default_factory=dict)
    artifacts: list[Artifact] = field(default_factory=list)
    failure_reason: str = ""
    retry_of: str = ""
    reproduction_of: str = ""
    reproduction_matches: bool | None = None
    preset: str = ""
    # Transitions added since the run was loaded, for the store to append.
    new_transitions: list[Transition] = field(default_factory=list, repr=False)

    @classmethod
    def queue(cls, *, at: datetime, **fields: Any) -> Run:
        run = cls(created_at=at, **fields)
        run._record(RunStatus.QUEUED, at, run.owner, "queued")
        return run

    # --- transitions --------------------------------------------------------------------------------

    def _move(self, status: RunStatus, at: datetime, actor: str, reason: str) -> None:
        if status not in ALLOWED_TRANSITIONS[self.status]:
            raise FailedPrecondition(
                f"run {self.name} is {self.status.value}; it cannot become {status.value}", field="status"
            )
        self.status = status
        self._record(status, at, actor, reason)

    def _record(self, status: RunStatus, at: datetime, actor: str, reason: str) -> None:
        transition = Transition(status, at, actor, reason)
        self.transitions.append(transition)
        self.new_transitions.append(transition)

    def start(self, at: datetime, worker: str) -> None:
        self._move(RunStatus.RUNNING, at, worker, "worker claimed the run")

    def request_stop(self, at: datetime, actor: str, reason: str) -> None:
        """Queued runs are cancelled at once; running ones stop cooperatively at the trainer's next check."""
        if self.status is RunStatus.QUEUED:
            self._move(RunStatus.CANCELLED, at, actor, reason or "stopped before it started")
        else:
            self._move(RunStatus.STOPPING, at, actor, reason or "stop requested")

    def finish(
        self,
        status: RunStatus,
        at: datetime,
        actor: str,
        *,
        summary_metrics: dict[str, float] | None = None,
        artifacts: list[Artifact] | None = None,
        failure_reason: str = "",
    ) -> None:
        if not status.is_final:
            raise InvalidArgument(f"{status.value} is not a final status", field="status")
        if status is RunStatus.FAILED and not failure_reason:
            failure_reason = "failed"
        self._move(status, at, actor, failure_reason or status.value)
        self.summary_metrics = dict(summary_metrics or {})
        self.artifacts = list(artifacts or [])
        self.failure_reason = failure_reason if status is RunStatus.FAILED else ""

    def fail_lost_worker(self, at: datetime) -> None:
        self.finish(RunStatus.FAILED, at, "watchdog", failure_reason=WORKER_LOST)

    # --- questions ----------------------------------------------------------------------------------

    @property
    def artifact_sha256(self) -> dict[str, str]:
        return {a.name: a.sha256 for a in self.artifacts}


# --- idempotency and fingerprints --------------------------------------------------------------------


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def digest(value: Any) -> str:
    return hashlib.sha256(canonical(value).encode()).hexdigest()


def request_digest(request: dict[str, Any]) -> str:
    """The fingerprint of a start request, compared when an idempotency key comes again."""
    return digest(request)


def inputs_digest(
    dataset: DatasetRef, algorithm_id: str, algorithm_version: str, params: dict[str, Any]
) -> str:
    """What makes two runs duplicates: the same dataset version, algorithm and resolved parameters."""
    return digest([dataset.dataset_id, dataset.number, algorithm_id, algorithm_version, params])


def check_idempotent_replay(existing: Run, digest_of_request: str) -> Run:
    """A request carrying an idempotency key already used: the same request gets the same run."""
    if existing.request_digest != digest_of_request:
        raise AlreadyExists(
            f"idempotency key {existing.idempotency_key!r} was used for run {existing.id} "
            f"({existing.name}) with different parameters",
            field="idempotency_key",
        )
    return existing


# --- concurrency ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConcurrencyLimits:
    # Runs a user may have queued or running at once (0: no limit).
    active_per_user: int = 0
    # Runs a worker pool may have running at once (0: no limit); extra ones wait in the queue.
    running_per_pool: int = 0


def check_user_limit(limits: ConcurrencyLimits, owner: str, active_runs_of_owner: int) -> None:
    from mlops.kernel.errors import ResourceExhausted

    if limits.active_per_user and active_runs_of_owner >= limits.active_per_user:
        raise ResourceExhausted(
            f"{owner} already has {active_runs_of_owner} active runs (limit {limits.active_per_user})",
            field="owner",
        )


def pool_has_room(limits: ConcurrencyLimits, running_in_pool: int) -> bool:
    return not limits.running_per_pool or running_in_pool < limits.running_per_pool


def check_duplicate(active_duplicate: Run | None, allow_duplicate: bool) -> None:
    if active_duplicate is not None and not allow_duplicate:
        raise FailedPrecondition(
            f"run {active_duplicate.id} ({active_duplicate.name}) is already {active_duplicate.status.value} "
            "with the same dataset version, algorithm and parameters; set allow_duplicate to start another",
            field="allow_duplicate",
        )


# --- parameters -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedParameters:
    values: dict[str, Any]
    # Names whose value came from the schema's defaults (neither the request nor the preset set them).
    defaulted: list[str]


def resolve_parameters(
    schema: dict[str, Any], presets: dict[str, dict[str, Any]], given: dict[str, Any], preset: str = ""
) -> ResolvedParameters:
    """Defaults, then the preset, then the given values; validated against the JSON Schema.

    The error names the offending field (`parameters.<name>`)."""
    import copy

    import jsonschema

    values: dict[str, Any] = {}
    defaulted: set[str] = set()
    for name, spec in schema.get("properties", {}).items():
        if isinstance(spec, dict) and "default" in spec:
            values[name] = copy.deepcopy(spec["default"])
            defaulted.add(name)
    if preset:
        if preset not in presets:
            raise InvalidArgument(
                f"unknown preset {preset!r}; known: {', '.join(sorted(presets))}", field="preset"
            )
        values.update(copy.deepcopy(presets[preset]))
        defaulted -= set(presets[preset])
    values.update(given)
    defaulted -= set(given)
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(values))
    if error is not None:
        raise InvalidArgument(error.message, field=f"parameters.{_field_of(error)}")
    return ResolvedParameters(values, sorted(defaulted))


def _field_of(error: Any) -> str:
    if error.absolute_path:
        return ".".join(str(part) for part in error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        if extra:
            return str(extra[0])
    if error.validator == "required" and "'" in error.message:
        return str(error.message.split("'")[1])
    return "*"


# --- authorisation of stop and retry ----------------------------------------------------------------


def authorize_stop(run: Run, caller: str, may_operate: bool, confirm_name: str) -> None:
    """Stopping needs the owner or an operator, and the run's name typed back, so no run ends by accident."""
    if caller != run.owner and not may_operate:
        raise PermissionDenied(
            f"only the owner of run {run.name} or an mlops-engineer may stop it", field="run_id"
        )
    if confirm_name != run.name:
        raise InvalidArgument(
            f"type the run's name ({run.name!r}) to confirm stopping it", field="confirm_name"
        )
    if run.status.is_final:
        raise FailedPrecondition(f"run {run.name} already {run.status.value}", field="status")
    if run.status is RunStatus.STOPPING:
        raise FailedPrecondition(f"run {run.name} is already stopping", field="status")


def authorize_retry(run: Run, caller: str, may_operate: bool) -> None:
    if caller != run.owner and not may_operate:
        raise PermissionDenied(
            f"only the owner of run {run.name} or an mlops-engineer may retry it", field="run_id"
        )
    if not run.status.is_final:
        raise FailedPrecondition(f"run {run.name} is still {run.status.value}", field="status")
