"""The run aggregate and the training rules, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlops.kernel.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    ResourceExhausted,
)
from services.training.domain import (
    WORKER_LOST,
    CodeVersion,
    ConcurrencyLimits,
    DatasetRef,
    Run,
    RunStatus,
    authorize_retry,
    authorize_stop,
    check_duplicate,
    check_idempotent_replay,
    check_user_limit,
    inputs_digest,
    pool_has_room,
    request_digest,
    resolve_parameters,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "epochs": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
        "learning_rate": {"type": "number", "exclusiveMinimum": 0, "default": 0.01},
        "optimizer": {"enum": ["adam", "sgd"], "default": "adam"},
    },
}
PRESETS = {"quick": {"epochs": 2}, "default": {}}


def new_run(**overrides: object) -> Run:
    fields: dict[str, object] = {
        "id": "r1",
        "name": "my-run",
        "owner": "sam",
        "dataset": DatasetRef("d1", 1, "abc"),
        "algorithm_id": "text_classification",
        "algorithm_version": "1.0.0",
        "parameters": {"epochs": 2},
        "defaulted_parameters": [],
        "seed": 7,
        "pool": "cpu",
        "code_version": CodeVersion("0.1.0", "deadbeef"),
        "idempotency_key": "k1",
        "request_digest": "d-1",
    }
    fields.update(overrides)
    return Run.queue(at=T0, **fields)  # type: ignore[arg-type]


def test_a_run_goes_through_its_lifecycle_with_timestamped_transitions() -> None:
    run = new_run()
    run.start(T0 + timedelta(seconds=1), "worker-1")
    run.finish(RunStatus.SUCCEEDED, T0 + timedelta(seconds=5), "worker-1", summary_metrics={"f1": 0.9})
    assert [t.status for t in run.transitions] == [RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.SUCCEEDED]
    assert [t.actor for t in run.transitions] == ["sam", "worker-1", "worker-1"]
    assert run.transitions[1].at == T0 + timedelta(seconds=1)
    assert run.summary_metrics == {"f1": 0.9}
    assert run.status.is_final


def test_stop_of_a_running_run_goes_through_stopping_to_cancelled() -> None:
    run = new_run()
    run.start(T0, "w")
    run.request_stop(T0, "sam", "wrong data")
    assert run.status is RunStatus.STOPPING
    assert run.transitions[-1].reason == "wrong data"
    run.finish(RunStatus.CANCELLED, T0, "w")
    assert run.status is RunStatus.CANCELLED


def test_stop_of_a_queued_run_cancels_it_at_once() -> None:
    run = new_run()
    run.request_stop(T0, "sam", "")
    assert run.status is RunStatus.CANCELLED


def test_illegal_transitions_are_refused() -> None:
    queued = new_run()
    with pytest.raises(FailedPrecondition):
        queued.finish(RunStatus.SUCCEEDED, T0, "w")
    running = new_run()
    running.start(T0, "w")
    with pytest.raises(FailedPrecondition):
        running.start(T0, "w2")
    running.finish(RunStatus.SUCCEEDED, T0, "w")
    for attempt in (
        lambda: running.finish(RunStatus.FAILED, T0, "w", failure_reason="late"),
        lambda: running.request_stop(T0, "sam", ""),
        lambda: running.start(T0, "w"),
    ):
        with pytest.raises(FailedPrecondition):
            attempt()
    assert running.status is RunStatus.SUCCEEDED
    assert len(running.transitions) == 3


def test_a_lost_worker_fails_the_run_with_its_reason() -> None:
    run = new_run()
    run.start(T0, "w")
    run.fail_lost_worker(T0)
    assert run.status is RunStatus.FAILED
    assert run.failure_reason == WORKER_LOST


def test_same_idempotency_key_and_request_gives_the_same_run() -> None:
    run = new_run()
    assert check_idempotent_replay(run, "d-1") is run


def test_same_key_with_different_parameters_names_the_original_run() -> None:
    run = new_run()
    with pytest.raises(AlreadyExists) as raised:
        check_idempotent_replay(run, "d-2")
    assert "r1" in str(raised.value)
    assert raised.value.field == "idempotency_key"


def test_request_and_input_digests_ignore_key_order() -> None:
    assert request_digest({"a": 1, "b": {"x": 1, "y": 2}}) == request_digest({"b": {"y": 2, "x": 1}, "a": 1})
    ref = DatasetRef("d1", 1)
    assert inputs_digest(ref, "a", "1", {"x": 1}) != inputs_digest(ref, "a", "1", {"x": 2})


def test_a_user_over_the_active_run_limit_is_refused() -> None:
    limits = ConcurrencyLimits(active_per_user=2)
    check_user_limit(limits, "sam", 1)
    with pytest.raises(ResourceExhausted):
        check_user_limit(limits, "sam", 2)
    check_user_limit(ConcurrencyLimits(), "sam", 100)


def test_a_full_pool_makes_runs_wait() -> None:
    assert pool_has_room(ConcurrencyLimits(running_per_pool=1), 0)
    assert not pool_has_room(ConcurrencyLimits(running_per_pool=1), 1)
    assert pool_has_room(ConcurrencyLimits(), 50)


def test_a_duplicate_active_run_is_refused_unless_allowed() -> None:
    other = new_run(id="r0")
    with pytest.raises(FailedPrecondition) as raised:
        check_duplicate(other, allow_duplicate=False)
    assert raised.value.field == "allow_duplicate"
    check_duplicate(other, allow_duplicate=True)
    check_duplicate(None, allow_duplicate=False)


def test_parameters_fill_defaults_and_mark_them() -> None:
    resolved = resolve_parameters(SCHEMA, PRESETS, {"learning_rate": 0.1}, "quick")
    assert resolved.values == {"epochs": 2, "learning_rate": 0.1, "optimizer": "adam"}
    assert resolved.defaulted == ["optimizer"]


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"epochs": "ten"}, "parameters.epochs"),
        ({"epochs": 0}, "parameters.epochs"),
        ({"epochs": 1000}, "parameters.epochs"),
        ({"learning_rate": -1}, "parameters.learning_rate"),
        ({"optimizer": "rmsprop"}, "parameters.optimizer"),
        ({"unknown": 1}, "parameters.unknown"),
    ],
)
def test_invalid_parameters_name_the_field(given: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        resolve_parameters(SCHEMA, PRESETS, given)
    assert raised.value.field == field


def test_an_unknown_preset_is_refused() -> None:
    with pytest.raises(InvalidArgument) as raised:
        resolve_parameters(SCHEMA, PRESETS, {}, "huge")
    assert raised.value.field == "preset"


def test_stop_needs_owner_or_operator_and_the_name() -> None:
    run = new_run()
    run.start(T0, "w")
    with pytest.raises(PermissionDenied):
        authorize_stop(run, "vera", False, "my-run")
    with pytest.raises(InvalidArgument) as raised:
        authorize_stop(run, "sam", False, "my-rum")
    assert raised.value.field == "confirm_name"
    authorize_stop(run, "sam", False, "my-run")
    authorize_stop(run, "ada", True, "my-run")


def test_stop_of_a_finished_run_is_a_failed_precondition() -> None:
    run = new_run()
    run.start(T0, "w")
    run.finish(RunStatus.SUCCEEDED, T0, "w")
    with pytest.raises(FailedPrecondition):
        authorize_stop(run, "sam", False, "my-run")


def test_retry_needs_a_finished_run() -> None:
    run = new_run()
    with pytest.raises(FailedPrecondition):
        authorize_retry(run, "sam", False)
    run.request_stop(T0, "sam", "")
    authorize_retry(run, "sam", False)
    with pytest.raises(PermissionDenied):
        authorize_retry(run, "vera", False)
