"""Relabel by filter and split by ratios (stratified, random, chronological)."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from mlops.kernel.errors import FailedPrecondition, InvalidArgument
from services.dataset.domain import (
    BoundingBox,
    Boxes,
    Label,
    Purpose,
    Sample,
    SampleFilter,
    Scenario,
    SplitRatios,
    SplitStrategy,
    Target,
    plan_split,
    relabel,
)

RATIOS = SplitRatios(0.7, 0.2, 0.1)


def sample(name: str, **changes: object) -> Sample:
    return Sample(
        name=name,
        content_sha256=hashlib.sha256(name.encode()).hexdigest(),
        size_bytes=1,
        media_type="text/plain",
        **changes,  # type: ignore[arg-type]
    )


def labelled(counts: dict[str, int]) -> list[Sample]:
    return [
        sample(f"{label}-{i:03d}", annotation=Label(label)) for label, n in counts.items() for i in range(n)
    ]


def test_split_is_stratified_by_label() -> None:
    samples = labelled({"cat": 100, "dog": 50, "rare": 10})
    plan = plan_split(Scenario.IMAGE_CLASSIFICATION, samples, RATIOS, seed=7)
    assert plan.strategy is SplitStrategy.STRATIFIED
    per_label = Counter((s.label, plan.purposes[s.name]) for s in samples)
    assert per_label[("cat", Purpose.TRAINING)] == 70 and per_label[("cat", Purpose.TESTING)] == 10
    assert per_label[("dog", Purpose.VALIDATION)] == 10
    assert per_label[("rare", Purpose.TRAINING)] == 7 and per_label[("rare", Purpose.TESTING)] == 1
    assert plan.counts_per_purpose() == {"training": 112, "validation": 32, "testing": 16}


def test_split_is_reproducible_for_a_seed_and_independent_of_order() -> None:
    samples = labelled({"a": 30, "b": 30})
    first = plan_split(Scenario.TEXT_CLASSIFICATION, samples, RATIOS, seed=1)
    again = plan_split(Scenario.TEXT_CLASSIFICATION, list(reversed(samples)), RATIOS, seed=1)
    other = plan_split(Scenario.TEXT_CLASSIFICATION, samples, RATIOS, seed=2)
    assert first.purposes == again.purposes
    assert first.purposes != other.purposes


def test_unlabelled_samples_are_split_at_random() -> None:
    samples = [sample(f"line-{i}") for i in range(11)]
    plan = plan_split(Scenario.LOG_CLUSTERING, samples, SplitRatios(0.5, 0.25, 0.25), seed=3)
    assert plan.strategy is SplitStrategy.RANDOM
    assert sum(plan.counts_per_purpose().values()) == 11


def test_time_series_split_keeps_the_future_out_of_training() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    # Names run against time, so a split by name would leak the future.
    samples = [
        sample(f"row-{99 - i:03d}", observed_at=start + timedelta(hours=i), annotation=Target(float(i)))
        for i in range(100)
    ]
    plan = plan_split(Scenario.TIME_SERIES_FORECASTING, samples, RATIOS, seed=0)
    assert plan.strategy is SplitStrategy.CHRONOLOGICAL
    times = {
        p: [s.observed_at for s in samples if plan.purposes[s.name] is p and s.observed_at] for p in Purpose
    }
    assert max(times[Purpose.TRAINING]) < min(times[Purpose.VALIDATION])
    assert max(times[Purpose.VALIDATION]) < min(times[Purpose.TESTING])
    assert max(times[Purpose.TESTING]) == start + timedelta(hours=99)
    assert plan.counts_per_purpose() == {"training": 70, "validation": 20, "testing": 10}


def _series(name: str, first: datetime, days: int) -> Sample:
    """A whole series file's sample, as ingest records it."""
    last = first + timedelta(days=days)
    return sample(name, observed_at=last, metadata={"start": first.isoformat().replace("+00:00", "Z")})


def test_series_of_consecutive_periods_split_chronologically() -> None:
    # Monthly files of one series: disjoint periods, so training can end before testing starts.
    months = [_series(f"z-{12 - m:02d}.csv", datetime(2026, m, 1, tzinfo=UTC), 27) for m in range(1, 11)]
    plan = plan_split(Scenario.TIME_SERIES_FORECASTING, months, SplitRatios(0.6, 0.2, 0.2), seed=0)
    assert plan.strategy is SplitStrategy.CHRONOLOGICAL
    by_month = [plan.purposes[f"z-{12 - m:02d}.csv"] for m in range(1, 11)]
    assert by_month == [Purpose.TRAINING] * 6 + [Purpose.VALIDATION] * 2 + [Purpose.TESTING] * 2


def test_series_over_the_same_period_go_whole_to_one_purpose_each() -> None:
    """No order in time separates them: a split by end time would be a split by name in disguise."""
    sites = [_series(f"site-{i:02d}.csv", datetime(2026, 1, 1, tzinfo=UTC), 70) for i in range(20)]
    plan = plan_split(Scenario.TIME_SERIES_FORECASTING, sites, RATIOS, seed=4)
    assert plan.strategy is SplitStrategy.BY_SERIES
    assert plan.counts_per_purpose() == {"training": 14, "validation": 4, "testing": 2}
    assert plan.purposes == plan_split(Scenario.TIME_SERIES_FORECASTING, sites[::-1], RATIOS, seed=4).purposes
    by_name = [s.name for s in sites[:14]]
    assert sorted(n for n, p in plan.purposes.items() if p is Purpose.TRAINING) != by_name


def test_a_chronological_split_needs_every_time() -> None:
    samples = [sample("a", observed_at=datetime(2026, 1, 1, tzinfo=UTC)), sample("b")]
    with pytest.raises(FailedPrecondition, match="1 lack it: 'b'"):
        plan_split(Scenario.TIME_SERIES_FORECASTING, samples, RATIOS, seed=0)


@pytest.mark.parametrize(
    "ratios", [(0.5, 0.5, 0.5), (1.2, -0.1, -0.1), (0.0, 0.0, 0.0), (float("nan"), 0, 1)]
)
def test_bad_ratios_are_refused(ratios: tuple[float, float, float]) -> None:
    with pytest.raises(InvalidArgument):
        SplitRatios(*ratios)


def test_an_empty_draft_cannot_be_split() -> None:
    with pytest.raises(FailedPrecondition):
        plan_split(Scenario.IMAGE_CLASSIFICATION, [], RATIOS, seed=0)


def test_apply_returns_only_the_samples_whose_purpose_changes() -> None:
    samples = labelled({"a": 10})
    plan = plan_split(Scenario.IMAGE_CLASSIFICATION, samples, SplitRatios(1.0, 0.0, 0.0), seed=0)
    assert plan.apply(samples) == []
    plan = plan_split(Scenario.IMAGE_CLASSIFICATION, samples, SplitRatios(0.0, 0.0, 1.0), seed=0)
    assert {s.purpose for s in plan.apply(samples)} == {Purpose.TESTING}


def test_relabel_by_filter_changes_only_matching_samples() -> None:
    samples = [
        *labelled({"cat": 3, "dog": 2}),
        sample("raw-1"),
        sample("raw-2", purpose=Purpose.TESTING),
    ]
    changed = relabel(
        samples,
        SampleFilter(label="cat"),
        scenario=Scenario.IMAGE_CLASSIFICATION,
        set_annotation=Label("feline"),
    )
    assert [s.name for s in changed] == ["cat-000", "cat-001", "cat-002"]
    assert {s.label for s in changed} == {"feline"}
    unlabelled = relabel(
        samples,
        SampleFilter(unlabeled_only=True, purpose=Purpose.TRAINING),
        scenario=Scenario.IMAGE_CLASSIFICATION,
        set_purpose=Purpose.VALIDATION,
    )
    assert [s.name for s in unlabelled] == ["raw-1"]
    by_prefix = relabel(
        samples,
        SampleFilter(name_prefix="dog-", sample_ids=frozenset({samples[3].sample_id})),
        scenario=Scenario.IMAGE_CLASSIFICATION,
        set_annotation=None,
    )
    assert [(s.name, s.annotation) for s in by_prefix] == [("dog-000", None)]


def test_relabel_refuses_no_change_and_wrong_annotations() -> None:
    samples = labelled({"cat": 1})
    with pytest.raises(InvalidArgument, match="sets a purpose"):
        relabel(samples, SampleFilter(), scenario=Scenario.IMAGE_CLASSIFICATION)
    with pytest.raises(InvalidArgument, match="label annotation"):
        relabel(samples, SampleFilter(), scenario=Scenario.IMAGE_CLASSIFICATION, set_annotation=Target(1))
    same = relabel(
        samples, SampleFilter(), scenario=Scenario.IMAGE_CLASSIFICATION, set_purpose=Purpose.TRAINING
    )
    assert same == [], "samples already so are not reported as changed"


def test_relabel_refuses_boxes_outside_a_matching_samples_image() -> None:
    small = sample("small.png", metadata={"width": 8, "height": 8})
    large = sample("large.png", metadata={"width": 64, "height": 64})
    boxes = Boxes((BoundingBox("cat", 10, 10, 20, 20),))
    with pytest.raises(InvalidArgument, match="lies outside the 8x8 image") as refused:
        relabel([large, small], SampleFilter(), scenario=Scenario.OBJECT_DETECTION, set_annotation=boxes)
    assert "small.png" in str(refused.value)
    changed = relabel(
        [large, small],
        SampleFilter(name_prefix="large"),
        scenario=Scenario.OBJECT_DETECTION,
        set_annotation=boxes,
    )
    assert [s.name for s in changed] == ["large.png"]
