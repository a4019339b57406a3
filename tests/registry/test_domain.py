"""The registry's rules without a database: stages, approvals, gates, automation, comparison."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from mlops.kernel.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from services.registry.domain import (
    Approval,
    ApprovalState,
    AutomationRule,
    Lineage,
    QualityGate,
    Stage,
    check_alias,
    check_model_name,
    compare_versions,
    run_gates,
)

from .builders import model, version

NOW = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Stage.NONE, Stage.STAGING),
        (Stage.STAGING, Stage.PRODUCTION),
        (Stage.PRODUCTION, Stage.ARCHIVED),
        (Stage.ARCHIVED, Stage.PRODUCTION),
        (Stage.STAGING, Stage.ARCHIVED),
    ],
)
def test_allowed_transitions(current: Stage, target: Stage) -> None:
    assert version(stage=current).moved_to(target).stage is target


@pytest.mark.parametrize(
    ("current", "target"),
    [(Stage.NONE, Stage.PRODUCTION), (Stage.NONE, Stage.NONE), (Stage.PRODUCTION, Stage.NONE)],
)
def test_refused_transitions(current: Stage, target: Stage) -> None:
    with pytest.raises(FailedPrecondition):
        version(stage=current).moved_to(target)


def test_versions_are_immutable() -> None:
    with pytest.raises(AttributeError):
        version().metrics = {}  # type: ignore[misc]


def test_gates_compare_and_report_missing_metrics() -> None:
    gates = [QualityGate("macro_f1", ">=", 0.85), QualityGate("latency_p99_ms", "<", 50)]
    outcomes = run_gates(gates, {"macro_f1": 0.9})
    assert [o.passed for o in outcomes] == [True, False]
    assert math.isnan(outcomes[1].observed)
    assert "no metric" in outcomes[1].detail
    with pytest.raises(InvalidArgument):
        QualityGate("macro_f1", "=>", 0.8)


def _request(metrics: dict[str, float], gates: list[QualityGate]) -> Approval:
    candidate = version(stage=Stage.STAGING, metrics=metrics)
    return Approval.request(
        candidate, reason="beats v1", requested_by="sam", outcomes=run_gates(gates, candidate.metrics)
    )


def test_approval_refuses_self_approval_and_needs_a_reason() -> None:
    approval = _request({"macro_f1": 0.9}, [QualityGate("macro_f1", ">=", 0.85)])
    with pytest.raises(PermissionDenied):
        approval.decide(approve=True, decided_by="sam", comment="", now=NOW)
    decided = approval.decide(approve=True, decided_by="erin", comment="ok", now=NOW)
    assert decided.state is ApprovalState.APPROVED
    with pytest.raises(FailedPrecondition):
        decided.decide(approve=False, decided_by="erin", comment="", now=NOW)
    with pytest.raises(InvalidArgument):
        Approval.request(version(), reason="  ", requested_by="sam", outcomes=())


def test_a_version_failing_a_gate_cannot_be_approved_or_promoted() -> None:
    approval = _request({"macro_f1": 0.7}, [QualityGate("macro_f1", ">=", 0.85)])
    assert not approval.gates_passed
    with pytest.raises(FailedPrecondition, match="quality gates"):
        approval.decide(approve=True, decided_by="erin", comment="", now=NOW)
    rejected = approval.decide(approve=False, decided_by="erin", comment="too weak", now=NOW)
    with pytest.raises(FailedPrecondition):
        rejected.check_allows(version(stage=Stage.STAGING))


def test_an_approval_is_for_one_version() -> None:
    approval = _request({"macro_f1": 0.9}, []).decide(approve=True, decided_by="erin", comment="", now=NOW)
    approval.check_allows(version(1, stage=Stage.STAGING))
    with pytest.raises(FailedPrecondition, match="not churn/v2"):
        approval.check_allows(version(2, stage=Stage.STAGING))


def test_production_or_deployed_versions_cannot_be_deleted() -> None:
    with pytest.raises(FailedPrecondition, match="production"):
        version(stage=Stage.PRODUCTION).check_deletable()
    with pytest.raises(FailedPrecondition, match="fraud-api"):
        version(deployed_as=("fraud-api",)).check_deletable()
    version(stage=Stage.ARCHIVED).check_deletable()


def test_automation_rule_stages_only_candidates_that_pass_and_beat_production() -> None:
    rule = AutomationRule.create(
        model(), dataset_id="ds1", algorithm_id="anomaly_detection", compare_metric="macro_f1",
        higher_is_better=True, created_by="sam",
    )  # fmt: skip
    gates = [QualityGate("macro_f1", ">=", 0.8)]
    assert rule.matches("ds1", "anomaly_detection") and not rule.matches("ds2", "anomaly_detection")
    production = version(1, metrics={"macro_f1": 0.85})
    assert rule.should_stage(version(2, metrics={"macro_f1": 0.9}), gates, production)
    assert not rule.should_stage(version(2, metrics={"macro_f1": 0.84}), gates, production)
    assert not rule.should_stage(version(2, metrics={"macro_f1": 0.79}), gates, None)
    assert rule.should_stage(version(2, metrics={"macro_f1": 0.81}), gates, None)
    lower = AutomationRule.create(
        model(),
        dataset_id="ds1",
        algorithm_id="a",
        compare_metric="mae",
        higher_is_better=False,
        created_by="s",
    )
    assert lower.beats({"mae": 1.0}, {"mae": 2.0}) and not lower.beats({"mae": 3.0}, {"mae": 2.0})


def test_compare_lists_parameter_metric_and_data_differences() -> None:
    before = version(1)
    after = version(
        2,
        parameters={"epochs": 10, "lr": 0.01},
        metrics={"macro_f1": 0.93, "accuracy": 0.95},
        lineage=Lineage(run_id="run-2", dataset_id="ds1", dataset_version=2, manifest_digest="e" * 64),
    )
    comparison = compare_versions(before, after)
    assert [(d.name, d.from_value, d.to_value) for d in comparison.parameters] == [("epochs", "5", "10")]
    assert {d.name for d in comparison.metrics} == {"macro_f1", "accuracy"}
    assert {d.name for d in comparison.data} == {"run_id", "dataset_version", "manifest_digest"}


def test_names_and_aliases() -> None:
    assert check_model_name("fraud-detector.v2") == "fraud-detector.v2"
    with pytest.raises(InvalidArgument):
        check_model_name("Fraud Detector")
    assert check_alias("champion") == "champion"
    for reserved in ("production", "latest", "9lives"):
        with pytest.raises(InvalidArgument):
            check_alias(reserved)
