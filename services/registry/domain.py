"""The registry's domain: models, immutable versions, stages, approvals, quality gates and automation rules.

Plain Python, no I/O. The store persists these; the service layer asks them what is allowed.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from mlops.kernel.errors import FailedPrecondition, InvalidArgument, PermissionDenied

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_ALIAS = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
MAX_REASON = 2000


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class Stage(StrEnum):
    NONE = "none"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"


# Archived -> production is the rollback path: the previous production version is archived, not lost.
ALLOWED_TRANSITIONS: dict[Stage, frozenset[Stage]] = {
    Stage.NONE: frozenset({Stage.STAGING, Stage.ARCHIVED}),
    Stage.STAGING: frozenset({Stage.PRODUCTION, Stage.NONE, Stage.ARCHIVED}),
    Stage.PRODUCTION: frozenset({Stage.STAGING, Stage.ARCHIVED}),
    Stage.ARCHIVED: frozenset({Stage.STAGING, Stage.PRODUCTION}),
}
# Names a caller may use instead of an alias to resolve a version.
STAGE_NAMES = frozenset(s.value for s in Stage if s is not Stage.NONE)


class ApprovalState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


def check_model_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidArgument(
            "a model name is 1-63 lowercase letters, digits, '.', '_' or '-', not starting with a sign",
            field="name",
        )
    return name


def check_alias(alias: str) -> str:
    if not _ALIAS.match(alias):
        raise InvalidArgument(
            "an alias is 1-32 lowercase letters, digits, '_' or '-', starting with a letter", field="alias"
        )
    if alias in STAGE_NAMES or alias == "latest":
        raise InvalidArgument(f"{alias!r} is reserved (stage names and 'latest')", field="alias")
    return alias


# --- quality gates ------------------------------------------------------------------------------------

_COMPARATORS = {
    ">=": lambda observed, threshold: observed >= threshold,
    ">": lambda observed, threshold: observed > threshold,
    "<=": lambda observed, threshold: observed <= threshold,
    "<": lambda observed, threshold: observed < threshold,
}


@dataclass(frozen=True)
class QualityGate:
    metric: str
    comparator: str
    threshold: float

    def __post_init__(self) -> None:
        if not self.metric:
            raise InvalidArgument("a gate names a metric", field="gates.metric")
        if self.comparator not in _COMPARATORS:
            raise InvalidArgument(
                f"comparator {self.comparator!r} is not one of >=, >, <=, <", field="gates.comparator"
            )
        if not math.isfinite(self.threshold):
            raise InvalidArgument("a gate's threshold is a finite number", field="gates.threshold")

    def evaluate(self, metrics: Mapping[str, float]) -> GateOutcome:
        observed = metrics.get(self.metric)
        if observed is None:
            return GateOutcome(self, math.nan, False, f"the version has no metric {self.metric!r}")
        passed = bool(_COMPARATORS[self.comparator](observed, self.threshold))
        verdict = "passes" if passed else "fails"
        return GateOutcome(
            self,
            observed,
            passed,
            f"{self.metric} = {observed:g} {verdict} {self.comparator} {self.threshold:g}",
        )

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "comparator": self.comparator, "threshold": self.threshold}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QualityGate:
        return cls(str(data["metric"]), str(data["comparator"]), float(data["threshold"]))


@dataclass(frozen=True)
class GateOutcome:
    gate: QualityGate
    observed: float
    passed: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        observed = None if math.isnan(self.observed) else self.observed
        return {
            "gate": self.gate.to_json(),
            "observed": observed,
            "passed": self.passed,
            "detail": self.detail,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GateOutcome:
        observed = data.get("observed")
        return cls(
            QualityGate.from_json(data["gate"]),
            math.nan if observed is None else float(observed),
            bool(data["passed"]),
            str(data.get("detail", "")),
        )


def run_gates(gates: Iterable[QualityGate], metrics: Mapping[str, float]) -> tuple[GateOutcome, ...]:
    return tuple(gate.evaluate(metrics) for gate in gates)


def gates_pass(outcomes: Iterable[GateOutcome]) -> bool:
    return all(outcome.passed for outcome in outcomes)


# --- models and versions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    model_id: str
    name: str
    description: str
    scenario: str
    owner: str
    tags: tuple[str, ...]
    gates: tuple[QualityGate, ...]
    created_at: datetime
    # Numbers are never reused, even after a version is deleted.
    latest_version: int = 0
    production_version: int = 0

    @classmethod
    def create(
        cls, name: str, *, owner: str, scenario: str = "", description: str = "", tags: Sequence[str] = ()
    ) -> Model:
        return cls(
            model_id=new_id(),
            name=check_model_name(name),
            description=description,
            scenario=scenario,
            owner=owner,
            tags=tuple(sorted(set(tags))),
            gates=(),
            created_at=utcnow(),
        )


@dataclass(frozen=True)
class Lineage:
    run_id: str = ""
    dataset_id: str = ""
    dataset_version: int = 0
    manifest_digest: str = ""
    # External uploads have no training lineage.
    external: bool = False


@dataclass(frozen=True)
class Bundle:
    uri: str
    sha256: str
    size_bytes: int = 0
    media_type: str = "application/zip"
    name: str = "bundle.zip"


@dataclass(frozen=True)
class VersionDraft:
    """What a version is registered with; the store gives it its number."""

    bundle: Bundle
    signature: dict[str, Any]
    algorithm_id: str
    algorithm_version: str
    lineage: Lineage
    code_version: dict[str, Any]
    parameters: dict[str, Any]
    metrics: dict[str, float]
    registered_by: str
    # Data the model card is generated from (splits, per-label metrics, limits).
    card_facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelVersion:
    """Immutable once registered, except its stage, aliases, card text and the deployments serving it."""

    model_id: str
    model_name: str
    number: int
    stage: Stage
    bundle: Bundle
    signature: dict[str, Any]
    algorithm_id: str
    algorithm_version: str
    lineage: Lineage
    code_version: dict[str, Any]
    parameters: dict[str, Any]
    metrics: dict[str, float]
    registered_by: str
    created_at: datetime
    aliases: tuple[str, ...] = ()
    deployed_as: tuple[str, ...] = ()

    @classmethod
    def from_draft(cls, model: Model, number: int, draft: VersionDraft, now: datetime) -> ModelVersion:
        return cls(
            model_id=model.model_id,
            model_name=model.name,
            number=number,
            stage=Stage.NONE,
            bundle=draft.bundle,
            signature=draft.signature,
            algorithm_id=draft.algorithm_id,
            algorithm_version=draft.algorithm_version,
            lineage=draft.lineage,
            code_version=draft.code_version,
            parameters=draft.parameters,
            metrics=draft.metrics,
            registered_by=draft.registered_by,
            created_at=now,
        )

    @property
    def label(self) -> str:
        return f"{self.model_name}/v{self.number}"

    def moved_to(self, target: Stage) -> ModelVersion:
        check_transition(self.stage, target)
        return replace(self, stage=target)

    def check_deletable(self) -> None:
        if self.deployed_as:
            raise FailedPrecondition(
                f"{self.label} is deployed as {', '.join(self.deployed_as)}: stop the deployment first",
                field="number",
            )
        if self.stage is Stage.PRODUCTION:
            raise FailedPrecondition(
                f"{self.label} is in production: move another version to production or archive it first",
                field="number",
            )


def check_transition(current: Stage, target: Stage) -> None:
    if target == current:
        raise FailedPrecondition(f"the version is already in {current.value}", field="stage")
    if target not in ALLOWED_TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in ALLOWED_TRANSITIONS[current]))
        raise FailedPrecondition(
            f"cannot move from {current.value} to {target.value}; allowed: {allowed}", field="stage"
        )


# --- approvals ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Approval:
    approval_id: str
    model_id: str
    model_name: str
    number: int
    target_stage: Stage
    reason: str
    requested_by: str
    state: ApprovalState
    gate_outcomes: tuple[GateOutcome, ...]
    created_at: datetime
    decided_by: str = ""
    decision_comment: str = ""
    decided_at: datetime | None = None

    @classmethod
    def request(
        cls, version: ModelVersion, *, reason: str, requested_by: str, outcomes: tuple[GateOutcome, ...]
    ) -> Approval:
        reason = reason.strip()
        if not reason:
            raise InvalidArgument("an approval request states a reason", field="reason")
        if len(reason) > MAX_REASON:
            raise InvalidArgument(f"a reason is at most {MAX_REASON} characters", field="reason")
        if version.stage is Stage.PRODUCTION:
            raise FailedPrecondition(f"{version.label} is already in production", field="number")
        return cls(
            approval_id=new_id(),
            model_id=version.model_id,
            model_name=version.model_name,
            number=version.number,
            target_stage=Stage.PRODUCTION,
            reason=reason,
            requested_by=requested_by,
            state=ApprovalState.PENDING,
            gate_outcomes=outcomes,
            created_at=utcnow(),
        )

    @property
    def gates_passed(self) -> bool:
        return gates_pass(self.gate_outcomes)

    def decide(self, *, approve: bool, decided_by: str, comment: str, now: datetime) -> Approval:
        if self.state is not ApprovalState.PENDING:
            raise FailedPrecondition(f"approval {self.approval_id} is already {self.state.value}")
        if decided_by == self.requested_by:
            raise PermissionDenied("a request is decided by someone other than its requester")
        if approve and not self.gates_passed:
            failed = "; ".join(o.detail for o in self.gate_outcomes if not o.passed)
            raise FailedPrecondition(f"the version fails its quality gates: {failed}", field="approval_id")
        return replace(
            self,
            state=ApprovalState.APPROVED if approve else ApprovalState.REJECTED,
            decided_by=decided_by,
            decision_comment=comment,
            decided_at=now,
        )

    def check_allows(self, version: ModelVersion) -> None:
        """This approval lets `version` into production: approved, for that very version, gates passed."""
        if self.model_id != version.model_id or self.number != version.number:
            raise FailedPrecondition(
                f"approval {self.approval_id} is for {self.model_name}/v{self.number}, not {version.label}",
                field="approval_id",
            )
        if self.state is not ApprovalState.APPROVED:
            raise FailedPrecondition(
                f"approval {self.approval_id} is {self.state.value}", field="approval_id"
            )
        if not self.gates_passed:
            raise FailedPrecondition("the version failed its quality gates", field="approval_id")


# --- automation rules ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AutomationRule:
    rule_id: str
    model_id: str
    dataset_id: str
    algorithm_id: str
    compare_metric: str
    higher_is_better: bool
    enabled: bool
    created_by: str
    created_at: datetime

    @classmethod
    def create(
        cls,
        model: Model,
        *,
        dataset_id: str,
        algorithm_id: str,
        compare_metric: str,
        higher_is_better: bool,
        created_by: str,
    ) -> AutomationRule:
        if not dataset_id:
            raise InvalidArgument("a rule names the dataset whose runs it watches", field="rule.dataset_id")
        if not algorithm_id:
            raise InvalidArgument("a rule names an algorithm", field="rule.algorithm_id")
        if not compare_metric:
            raise InvalidArgument(
                "a rule names the metric to beat production on", field="rule.compare_metric"
            )
        return cls(
            new_id(), model.model_id, dataset_id, algorithm_id, compare_metric, higher_is_better, True,
            created_by, utcnow(),
        )  # fmt: skip

    def matches(self, dataset_id: str, algorithm_id: str) -> bool:
        return self.enabled and self.dataset_id == dataset_id and self.algorithm_id == algorithm_id

    def beats(self, candidate: Mapping[str, float], production: Mapping[str, float] | None) -> bool:
        """Whether the candidate beats production on the rule's metric (any candidate beats no production)."""
        ours = candidate.get(self.compare_metric)
        if ours is None or not math.isfinite(ours):
            return False
        theirs = None if production is None else production.get(self.compare_metric)
        if theirs is None:
            return True
        return ours > theirs if self.higher_is_better else ours < theirs

    def should_stage(
        self, candidate: ModelVersion, gates: Iterable[QualityGate], production: ModelVersion | None
    ) -> bool:
        return gates_pass(run_gates(gates, candidate.metrics)) and self.beats(
            candidate.metrics, production.metrics if production else None
        )


# --- comparison ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    name: str
    from_value: str
    to_value: str


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _differences(before: Mapping[str, Any], after: Mapping[str, Any], *, all_keys: bool) -> list[Difference]:
    keys = sorted(set(before) | set(after))
    return [
        Difference(k, _text(before.get(k)), _text(after.get(k)))
        for k in keys
        if all_keys or before.get(k) != after.get(k)
    ]


@dataclass(frozen=True)
class Comparison:
    parameters: list[Difference]
    metrics: list[Difference]
    data: list[Difference]


def compare_versions(before: ModelVersion, after: ModelVersion) -> Comparison:
    """Parameters and data that differ; every metric (a comparison shows metrics side by side)."""

    def data_of(v: ModelVersion) -> dict[str, Any]:
        return {
            "run_id": v.lineage.run_id,
            "dataset_id": v.lineage.dataset_id,
            "dataset_version": v.lineage.dataset_version or None,
            "manifest_digest": v.lineage.manifest_digest,
            "external": v.lineage.external,
            "algorithm": f"{v.algorithm_id}@{v.algorithm_version}",
            "package_version": v.code_version.get("package_version", ""),
            "git_revision": v.code_version.get("git_revision", ""),
        }

    return Comparison(
        parameters=_differences(before.parameters, after.parameters, all_keys=False),
        metrics=_differences(before.metrics, after.metrics, all_keys=True),
        data=_differences(data_of(before), data_of(after), all_keys=False),
    )
