"""Demo data for text classification (support messages) and log clustering (server logs).

The records come from the algorithms' own demo generators, written as one JSONL upload each: `id`
(the sample's name), `text` and `label` (the message's category, or the log line's template).
"""

from __future__ import annotations

import json
from pathlib import Path

from mlops.algorithms.base import Sample
from mlops.algorithms.log_clustering.demo import system_logs
from mlops.algorithms.text_classification.demo import support_messages

from ..domain import Scenario
from ..ingest import UploadFormat, UploadSpec
from .spec import DEFAULT_RATIOS, DemoDataset, DemoFile


def jsonl_file(samples: list[Sample], path: Path) -> DemoFile:
    with path.open("w", encoding="utf-8") as file:
        for sample in samples:
            record = {"id": sample.key, "text": sample.content.decode(), "label": sample.annotation}
            file.write(json.dumps(record, ensure_ascii=False) + "\n")
    return DemoFile(path, UploadSpec(file_name=path.name, format=UploadFormat.JSONL))


def text_classification(directory: Path, seed: int) -> DemoDataset:
    """Customer-support messages in six categories, with typos and side remarks."""
    samples = support_messages(seed)
    return DemoDataset(
        scenario=Scenario.TEXT_CLASSIFICATION,
        name="demo-support-messages",
        description=f"{len(samples)} synthetic customer-support messages labelled with their category.",
        tags=("demo", "nlp"),
        files=(jsonl_file(samples, directory / "support-messages.jsonl"),),
        ratios=DEFAULT_RATIOS,
        seed=seed,
    )


def log_clustering(directory: Path, seed: int) -> DemoDataset:
    """Log lines of a small production system, each labelled with the template that made it."""
    samples = system_logs(seed)
    return DemoDataset(
        scenario=Scenario.LOG_CLUSTERING,
        name="demo-system-logs",
        description=f"{len(samples)} synthetic log lines (sshd, nginx, database, Kafka, kubelet, an "
        "application) labelled with their template, to score the clustering.",
        tags=("demo", "logs"),
        files=(jsonl_file(samples, directory / "system-logs.jsonl"),),
        ratios=DEFAULT_RATIOS,
        seed=seed,
    )
