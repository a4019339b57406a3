"""Model cards generated from a version, with the editable parts, as Markdown."""

from __future__ import annotations

from services.registry.cards import ModelCard, generate_facts
from services.registry.domain import Lineage

from .builders import version


def test_card_from_a_trained_version() -> None:
    trained = version(metrics={"test.macro_f1": 0.91, "validation.macro_f1": 0.93, "loss": 0.2})
    facts = generate_facts(trained, {"per_label_metrics": {"cat": {"f1": 0.9}}})
    assert facts["metrics"] == {
        "test": {"macro_f1": 0.91},
        "validation": {"macro_f1": 0.93},
        "overall": {"loss": 0.2},
    }
    card = ModelCard(
        "churn", 1, facts, "Flag churn risk weekly.", "Biased towards old customers.", trained.created_at
    )
    markdown = card.to_markdown()
    for expected in (
        "# Model card: churn v1",
        "Flag churn risk weekly.",
        "run-1",
        "### test",
        "| epochs | 5 |",
        "cat",
    ):
        assert expected in markdown


def test_card_of_an_external_version_says_it_has_no_lineage() -> None:
    external = version(lineage=Lineage(external=True), metrics={}, parameters={})
    markdown = ModelCard("churn", 1, generate_facts(external), "", "", external.created_at).to_markdown()
    assert "no training lineage" in markdown
    assert "_not stated yet_" in markdown
