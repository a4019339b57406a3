"""Every demo dataset loads through the real upload validation, reproducibly."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.dataset.demo import DEMO_GENERATORS, generate_demo
from services.dataset.domain import Manifest, Sample, Scenario, SplitPlan, SplitStrategy, plan_split
from services.dataset.ingest import read_upload


def load(scenario: Scenario, directory: Path, seed: int) -> tuple[dict[str, Sample], SplitPlan]:
    """The demo's samples, by name, as the upload path reads them and its split assigns them."""
    demo = generate_demo(scenario, directory, seed)
    samples: dict[str, Sample] = {}
    for file in demo.files:
        with file.path.open("rb") as stream:
            for item in read_upload(stream, scenario=scenario, spec=file.spec):
                assert item.name not in samples, f"the demo names {item.name!r} twice"
                samples[item.name] = item.to_sample()
    plan = plan_split(scenario, list(samples.values()), demo.ratios, demo.seed)
    for sample in plan.apply(samples.values()):
        samples[sample.name] = sample
    return samples, plan


@pytest.mark.parametrize("scenario", list(Scenario))
def test_each_demo_loads_splits_and_publishes(scenario: Scenario, tmp_path: Path) -> None:
    assert scenario in DEMO_GENERATORS
    samples, _ = load(scenario, tmp_path, seed=1)
    # A series scenario stores one sample per monitored service or site, the others one per record.
    series = scenario in (Scenario.ANOMALY_DETECTION, Scenario.TIME_SERIES_FORECASTING)
    assert (10 if series else 200) <= len(samples) <= 5000
    manifest = Manifest.of(samples.values())
    counts = manifest.counts_per_purpose()
    assert counts["training"] > counts["validation"] > 0 and counts["testing"] > 0
    if scenario in (Scenario.IMAGE_CLASSIFICATION, Scenario.TEXT_CLASSIFICATION, Scenario.LOG_CLUSTERING):
        assert len(manifest.counts_per_label()) >= 2
    if series:
        assert all(s.media_type == "text/csv" and s.observed_at is not None for s in samples.values())
    if scenario is Scenario.ANOMALY_DETECTION:
        assert sum(s.metadata["anomalous_rows"] for s in samples.values()) > 0


def test_the_forecasting_demo_splits_whole_series(tmp_path: Path) -> None:
    """Its sites are observed over the same weeks: no order in time separates them, so each site's
    series goes whole to one purpose (the forecaster holds out horizons within each)."""
    samples, plan = load(Scenario.TIME_SERIES_FORECASTING, tmp_path, seed=1)
    assert plan.strategy is SplitStrategy.BY_SERIES
    assert len({(s.metadata["start"], s.metadata["end"]) for s in samples.values()}) == 1
    counts = plan.counts_per_purpose()
    assert counts["training"] > counts["validation"] > 0 and counts["testing"] > 0


def test_a_demo_is_reproducible_for_a_seed(tmp_path: Path) -> None:
    def digest(seed: int, folder: str) -> str:
        (tmp_path / folder).mkdir()
        samples, _ = load(Scenario.OBJECT_DETECTION, tmp_path / folder, seed)
        return Manifest.of(samples.values()).digest()

    assert digest(5, "a") == digest(5, "b")
    assert digest(5, "c") != digest(6, "d")
