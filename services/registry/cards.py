"""Model cards: facts generated from the version and its run, plus editable intended use and risks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .domain import ModelVersion

_SPLITS = ("train", "training", "validation", "val", "test", "testing")


@dataclass(frozen=True)
class ModelCard:
    model_name: str
    number: int
    generated: dict[str, Any]
    intended_use: str
    risks: str
    updated_at: datetime

    def to_markdown(self) -> str:
        return render_markdown(self)


def _split_of(metric: str) -> tuple[str, str]:
    """`test.macro_f1` or `test_macro_f1` -> ("test", "macro_f1"); unsplit metrics go under "overall"."""
    for separator in (".", "/", "_"):
        head, sep, tail = metric.partition(separator)
        if sep and head in _SPLITS and tail:
            return head, tail
    return "overall", metric


def generate_facts(version: ModelVersion, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The card's generated part: data, algorithm, parameters, metrics per split and per label, limits."""
    extra = dict(extra or {})
    per_split: dict[str, dict[str, float]] = {}
    for name, value in sorted(version.metrics.items()):
        split, metric = _split_of(name)
        per_split.setdefault(split, {})[metric] = value
    limits = list(extra.get("limits", []))
    lineage = version.lineage
    if lineage.external:
        limits.append(
            "Uploaded from outside the platform: the platform checked no training lineage, data or metrics."
        )
    else:
        limits.append(
            "Metrics were measured on the dataset version named here; data drifting from it may score lower."
        )
    return {
        "model": version.model_name,
        "version": version.number,
        "algorithm": {"id": version.algorithm_id, "version": version.algorithm_version},
        "data": {
            "run_id": lineage.run_id,
            "dataset_id": lineage.dataset_id,
            "dataset_version": lineage.dataset_version,
            "manifest_digest": lineage.manifest_digest,
            "external": lineage.external,
        },
        "parameters": dict(version.parameters),
        "metrics": per_split,
        "per_label_metrics": dict(extra.get("per_label_metrics", {})),
        "signature": version.signature,
        "code_version": dict(version.code_version),
        "limits": limits,
    }


def _section(markdown: str, title: str) -> str:
    """The text under `## <title>` in a Markdown document, up to the next heading of that level."""
    lines = markdown.splitlines()
    for index, line in enumerate(lines):
        if line.strip().lower() == f"## {title}".lower():
            body: list[str] = []
            for following in lines[index + 1 :]:
                if following.startswith("## "):
                    break
                body.append(following)
            return "\n".join(body).strip()
    return ""


def facts_from_training(algorithm_card: str, evaluation: Mapping[str, Any]) -> dict[str, Any]:
    """What the algorithm's own card and the run's evaluation add: limits, a suggested intended use,
    and per-label metrics where the scenario reports them (evaluation["per_class"])."""
    facts: dict[str, Any] = {}
    limits = _section(algorithm_card, "Limits")
    if limits:
        facts["limits"] = [limits]
    intended = _section(algorithm_card, "Intended use")
    if intended:
        facts["suggested_intended_use"] = intended
    per_label: dict[str, dict[str, float]] = {}
    rows = evaluation.get("per_class", [])
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict) and "label" in row:
            per_label[str(row["label"])] = {
                k: float(v) for k, v in row.items() if k != "label" and isinstance(v, int | float)
            }
    if per_label:
        facts["per_label_metrics"] = per_label
    return facts


def _table(rows: Mapping[str, Any], header: tuple[str, str]) -> list[str]:
    if not rows:
        return ["_none_", ""]
    lines = [f"| {header[0]} | {header[1]} |", "| --- | --- |"]
    lines += [f"| {key} | {_cell(value)} |" for key, value in sorted(rows.items())]
    return [*lines, ""]


def _cell(value: Any) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(card: ModelCard) -> str:
    facts = card.generated
    data = facts.get("data", {})
    algorithm = facts.get("algorithm", {})
    lines = [f"# Model card: {card.model_name} v{card.number}", ""]
    lines += ["## Model", "", f"- Algorithm: {algorithm.get('id', '')} {algorithm.get('version', '')}"]
    code = facts.get("code_version", {})
    if code:
        lines.append(f"- Code: {code.get('package_version', '')} {code.get('git_revision', '')}".rstrip())
    intended = card.intended_use
    if not intended and facts.get("suggested_intended_use"):
        suggestion = facts["suggested_intended_use"]
        intended = f"{suggestion}\n\n_(from the algorithm's card: edit to state this model's use)_"
    lines += ["", "## Intended use", "", intended or "_not stated yet_", ""]
    lines += ["## Data", ""]
    if data.get("external"):
        lines += ["External upload: no training lineage.", ""]
    else:
        lines += [
            f"- Training run: {data.get('run_id', '')}",
            f"- Dataset: {data.get('dataset_id', '')} version {data.get('dataset_version', '')}",
            f"- Manifest digest: `{data.get('manifest_digest', '')}`",
            "",
        ]
    lines += ["## Parameters", "", *_table(facts.get("parameters", {}), ("parameter", "value"))]
    lines += ["## Metrics", ""]
    metrics = facts.get("metrics", {})
    if not metrics:
        lines += ["_none_", ""]
    for split, values in sorted(metrics.items()):
        lines += [f"### {split}", "", *_table(values, ("metric", "value"))]
    per_label = facts.get("per_label_metrics", {})
    if per_label:
        lines += ["## Per-label metrics", ""]
        for label, values in sorted(per_label.items()):
            lines += [f"### {label}", "", *_table(values, ("metric", "value"))]
    lines += ["## Risks", "", card.risks or "_not stated yet_", ""]
    lines += ["## Limits", "", *[f"- {limit}" for limit in facts.get("limits", [])], ""]
    return "\n".join(lines)
