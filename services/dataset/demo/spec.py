"""What a demo generator hands back: files in upload formats plus how to split them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..domain import Scenario, SplitRatios
from ..ingest import UploadSpec


@dataclass(frozen=True)
class DemoFile:
    path: Path
    spec: UploadSpec


@dataclass(frozen=True)
class DemoDataset:
    """A generated dataset: load each file with `read_upload`, then split with `ratios` and `seed`."""

    scenario: Scenario
    name: str
    description: str
    tags: tuple[str, ...]
    files: tuple[DemoFile, ...]
    ratios: SplitRatios
    seed: int


DEFAULT_RATIOS = SplitRatios(training=0.7, validation=0.15, testing=0.15)
