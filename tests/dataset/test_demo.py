"""Every demo dataset loads through the real upload validation, reproducibly."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.dataset.demo import DEMO_GENERATORS, generate_demo
from services.dataset.domain import Dataset, Draft, Manifest, Scenario, plan_split
from services.dataset.ingest import read_upload


def load(scenario: Scenario, directory: Path, seed: int) -> tuple[Dataset, Draft]:
    demo = generate_demo(scenario, directory, seed)
    dataset = Dataset.create(name=demo.name, scenario=scenario, owner="demo", tags=demo.tags)
    draft = Draft.of(dataset)
    for file in demo.files:
        with file.path.open("rb") as stream:
            draft.add(s.to_sample() for s in read_upload(stream, scenario=scenario, spec=file.spec))
    plan = plan_split(scenario, list(draft.samples.values()), demo.ratios, demo.seed)
    for sample in plan.apply(draft.samples.values()):
        draft.update(sample)
    return dataset, draft


@pytest.mark.parametrize("scenario", list(Scenario))
def test_each_demo_loads_splits_and_publishes(scenario: Scenario, tmp_path: Path) -> None:
    assert scenario in DEMO_GENERATORS
    dataset, draft = load(scenario, tmp_path, seed=1)
    # A series scenario stores one sample per monitored service or site, the others one per record.
    series = scenario in (Scenario.ANOMALY_DETECTION, Scenario.TIME_SERIES_FORECASTING)
    assert (10 if series else 200) <= len(draft) <= 5000
    version = draft.publish(dataset, author="demo", message="demo data")
    counts = version.counts_per_purpose
    assert counts["training"] > counts["validation"] > 0 and counts["testing"] > 0
    if scenario in (Scenario.IMAGE_CLASSIFICATION, Scenario.TEXT_CLASSIFICATION, Scenario.LOG_CLUSTERING):
        assert len(version.counts_per_label) >= 2
    if series:
        assert all(s.media_type == "text/csv" and s.observed_at is not None for s in draft.samples.values())
    if scenario is Scenario.ANOMALY_DETECTION:
        assert sum(s.metadata["anomalous_rows"] for s in draft.samples.values()) > 0


def test_the_forecasting_demo_splits_chronologically(tmp_path: Path) -> None:
    _, draft = load(Scenario.TIME_SERIES_FORECASTING, tmp_path, seed=1)
    by_purpose: dict[str, list[str]] = {}
    for sample in sorted(draft.samples.values(), key=lambda s: (s.observed_at, s.name)):
        by_purpose.setdefault(sample.purpose.value, []).append(sample.name)
    ordered = [n for p in ("training", "validation", "testing") for n in by_purpose[p]]
    assert ordered == sorted(s.name for s in draft.samples.values())


def test_a_demo_is_reproducible_for_a_seed(tmp_path: Path) -> None:
    def digest(seed: int, folder: str) -> str:
        (tmp_path / folder).mkdir()
        _, draft = load(Scenario.OBJECT_DETECTION, tmp_path / folder, seed)
        return Manifest.of(draft.samples.values()).digest()

    assert digest(5, "a") == digest(5, "b")
    assert digest(5, "c") != digest(6, "d")
