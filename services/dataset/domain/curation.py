"""Bulk edits of a draft: relabel by filter, and splitting samples into training/validation/testing."""

from __future__ import annotations

import itertools
import math
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from mlops.kernel.errors import FailedPrecondition, InvalidArgument

from .model import Annotation, Label, Purpose, Sample, Scenario, check_annotation

_NO_CHANGE = object()


@dataclass(frozen=True)
class SampleFilter:
    """Every given criterion must hold; an empty filter matches every sample."""

    purpose: Purpose | None = None
    label: str = ""
    name_prefix: str = ""
    sample_ids: frozenset[str] = frozenset()
    unlabeled_only: bool = False

    def matches(self, sample: Sample) -> bool:
        return (
            (self.purpose is None or sample.purpose is self.purpose)
            and (not self.label or sample.label == self.label)
            and (not self.name_prefix or sample.name.startswith(self.name_prefix))
            and (not self.sample_ids or sample.sample_id in self.sample_ids)
            and (not self.unlabeled_only or sample.annotation is None)
        )

    @property
    def matches_everything(self) -> bool:
        return self == SampleFilter()


def relabel(
    samples: Iterable[Sample],
    selection: SampleFilter,
    *,
    scenario: Scenario,
    set_purpose: Purpose | None = None,
    set_annotation: Annotation | object = _NO_CHANGE,
) -> list[Sample]:
    """The matching samples with the new purpose and/or annotation; only those that actually change.

    `set_annotation=None` clears annotations; leaving it out keeps them.
    """
    if set_purpose is None and set_annotation is _NO_CHANGE:
        raise InvalidArgument("a relabel sets a purpose, an annotation or both", field="set_purpose")
    if set_annotation is not _NO_CHANGE:
        check_annotation(scenario, set_annotation, field="set_annotation")  # type: ignore[arg-type]
    changed: list[Sample] = []
    for sample in samples:
        if not selection.matches(sample):
            continue
        updated = sample
        if set_purpose is not None and sample.purpose is not set_purpose:
            updated = updated.with_changes(purpose=set_purpose)
        if set_annotation is not _NO_CHANGE and sample.annotation != set_annotation:
            check_annotation(
                scenario,
                set_annotation,  # type: ignore[arg-type]
                field=f"set_annotation (sample {sample.name!r})",
                metadata=sample.metadata,
            )
            updated = updated.with_changes(annotation=set_annotation)
        if updated is not sample:
            changed.append(updated)
    return changed


class SplitStrategy(StrEnum):
    # Each label keeps the same proportions in every purpose.
    STRATIFIED = "stratified"
    RANDOM = "random"
    # Oldest samples train, newest test: no future observation leaks into training.
    CHRONOLOGICAL = "chronological"
    # Whole series, at random: series that share their time span cannot be ordered in time, so each
    # goes whole to one purpose (no series straddles two); time within a series is the trainer's
    # holdout (the forecaster's held-out horizons).
    BY_SERIES = "by_series"


@dataclass(frozen=True)
class SplitRatios:
    training: float
    validation: float
    testing: float

    def __post_init__(self) -> None:
        values = (self.training, self.validation, self.testing)
        if any(not math.isfinite(v) or v < 0 for v in values):
            raise InvalidArgument("split ratios are finite and not negative", field="training_ratio")
        if not math.isclose(sum(values), 1.0, abs_tol=1e-6):
            raise InvalidArgument(f"split ratios add up to {sum(values):g}, not 1", field="training_ratio")

    def apportion(self, total: int) -> dict[Purpose, int]:
        """Counts that add up to `total`, rounding by the largest remainder."""
        shares = {
            Purpose.TRAINING: self.training * total,
            Purpose.VALIDATION: self.validation * total,
            Purpose.TESTING: self.testing * total,
        }
        counts = {p: math.floor(s) for p, s in shares.items()}
        left = total - sum(counts.values())
        # Ties go to training first, then validation: the enum order.
        by_remainder = sorted(shares, key=lambda p: -(shares[p] - counts[p]))
        for purpose in by_remainder[:left]:
            counts[purpose] += 1
        return counts


@dataclass(frozen=True)
class SplitPlan:
    strategy: SplitStrategy
    purposes: dict[str, Purpose]  # sample name -> purpose

    def counts_per_purpose(self) -> dict[str, int]:
        counts = {p.value: 0 for p in Purpose}
        for purpose in self.purposes.values():
            counts[purpose.value] += 1
        return counts

    def apply(self, samples: Iterable[Sample]) -> list[Sample]:
        """The samples whose purpose the plan changes."""
        return [
            s.with_changes(purpose=self.purposes[s.name])
            for s in samples
            if s.name in self.purposes and s.purpose is not self.purposes[s.name]
        ]


def choose_strategy(scenario: Scenario, samples: Sequence[Sample]) -> SplitStrategy:
    if scenario is Scenario.TIME_SERIES_FORECASTING:
        return SplitStrategy.CHRONOLOGICAL
    if any(isinstance(s.annotation, Label) for s in samples):
        return SplitStrategy.STRATIFIED
    return SplitStrategy.RANDOM


def plan_split(scenario: Scenario, samples: Sequence[Sample], ratios: SplitRatios, seed: int) -> SplitPlan:
    """Assigns every sample a purpose. The same samples, ratios and seed always give the same plan,
    whatever order the samples come in."""
    if not samples:
        raise FailedPrecondition("the draft has no samples to split", field="dataset_id")
    strategy = choose_strategy(scenario, samples)
    if strategy is SplitStrategy.CHRONOLOGICAL:
        in_time = _chronological(samples, ratios)
        if not _periods_overlap(samples, in_time):
            return SplitPlan(strategy, in_time)
        strategy = SplitStrategy.BY_SERIES
    return SplitPlan(
        strategy, _shuffled(samples, ratios, seed, by_label=strategy is SplitStrategy.STRATIFIED)
    )


def _shuffled(
    samples: Sequence[Sample], ratios: SplitRatios, seed: int, *, by_label: bool
) -> dict[str, Purpose]:
    """Purposes at random (seeded, independent of the samples' order), within each label if asked."""
    groups: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[sample.label if by_label else ""].append(sample)
    rng = random.Random(seed)
    purposes: dict[str, Purpose] = {}
    for label in sorted(groups):
        members = sorted(groups[label], key=lambda s: s.name)
        rng.shuffle(members)
        purposes.update(_assign_in_order(members, ratios))
    return purposes


def _chronological(samples: Sequence[Sample], ratios: SplitRatios) -> dict[str, Purpose]:
    undated = [s.name for s in samples if s.observed_at is None]
    if undated:
        shown = ", ".join(repr(n) for n in undated[:5])
        raise FailedPrecondition(
            f"a chronological split needs observed_at on every sample; {len(undated)} lack it: {shown}",
            field="observed_at",
        )

    def moment(s: Sample) -> tuple[datetime, str]:
        assert s.observed_at is not None
        return (s.observed_at, s.name)

    return _assign_in_order(sorted(samples, key=moment), ratios)


def _period(sample: Sample) -> tuple[datetime, datetime]:
    """The time a sample covers: a series file from its first row's time (metadata "start") to its
    last (observed_at); a single record, its one moment."""
    assert sample.observed_at is not None
    start = sample.metadata.get("start")
    if isinstance(start, str):
        try:
            began = datetime.fromisoformat(start)
        except ValueError:
            began = sample.observed_at
        if began.tzinfo is not None:
            return min(began, sample.observed_at), sample.observed_at
    return sample.observed_at, sample.observed_at


def _periods_overlap(samples: Sequence[Sample], purposes: dict[str, Purpose]) -> bool:
    """Whether some sample of an earlier purpose reaches past the start of a later purpose's."""
    spans: dict[Purpose, list[tuple[datetime, datetime]]] = defaultdict(list)
    for sample in samples:
        spans[purposes[sample.name]].append(_period(sample))
    order = [p for p in (Purpose.TRAINING, Purpose.VALIDATION, Purpose.TESTING) if spans[p]]
    for earlier, later in itertools.pairwise(order):
        if max(end for _, end in spans[earlier]) > min(start for start, _ in spans[later]):
            return True
    return False


def _assign_in_order(ordered: Sequence[Sample], ratios: SplitRatios) -> dict[str, Purpose]:
    counts = ratios.apportion(len(ordered))
    purposes: dict[str, Purpose] = {}
    start = 0
    for purpose in (Purpose.TRAINING, Purpose.VALIDATION, Purpose.TESTING):
        for sample in ordered[start : start + counts[purpose]]:
            purposes[sample.name] = purpose
        start += counts[purpose]
    return purposes
