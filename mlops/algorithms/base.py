"""The algorithm contract: what every built-in or plug-in algorithm provides to the platform.

An algorithm is pure computation: it reads neutral in-memory samples (the dataset service's manifests
map onto `Sample`), trains a PyTorch model, exports it to ONNX inside a `ModelBundle`, and builds a
`Predictor` that the trainer's evaluation and the serving worker both use, so pre- and
post-processing exist exactly once.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from mlops.kernel.errors import InvalidArgument
from mlops.kernel.scenarios import Purpose, Scenario

if TYPE_CHECKING:
    from mlops.algorithms.bundle import ModelBundle
    from mlops.algorithms.predictor import Predictor


@dataclass(frozen=True)
class Sample:
    """One dataset sample: raw content bytes plus a JSON-compatible annotation.

    `key` identifies the sample inside its dataset version; trainers order samples by key so that the
    order the storage layer returns them in cannot change the trained model.
    """

    key: str
    content: bytes
    annotation: Any
    purpose: Purpose
    media_type: str = "application/octet-stream"


UNDECLARED_MEDIA_TYPE = "application/octet-stream"


def media_essence(media_type: str) -> str:
    """'text/plain; charset=utf-8' -> 'text/plain': parameters do not change what a reader accepts."""
    return media_type.split(";")[0].strip().lower()


@dataclass(frozen=True)
class DatasetFormat:
    """What an algorithm expects of a dataset version; shown to users and checked by the reader."""

    media_types: tuple[str, ...]
    annotation: str
    """A human description of the annotation, e.g. 'a label name (string)'."""
    annotation_schema: dict[str, Any]
    """JSON Schema of one sample's annotation."""
    requires_purposes: tuple[Purpose, ...] = (Purpose.TRAINING, Purpose.TESTING)
    notes: str = ""


@dataclass
class DatasetSplits:
    training: list[Sample]
    validation: list[Sample]
    testing: list[Sample]


@dataclass(frozen=True)
class Progress:
    """One progress report from a trainer: an epoch or step with its metrics."""

    epoch: int
    step: int
    metrics: dict[str, float]
    total_epochs: int | None = None


ProgressCallback = Callable[[Progress], None]
StopCheck = Callable[[], bool]


def _never_stop() -> bool:
    return False


def _ignore_progress(_: Progress) -> None:
    return None


@dataclass
class TrainingContext:
    """What the training worker hands a trainer besides data and parameters."""

    seed: int = 0
    device: str = "auto"
    """'auto', 'cpu' or 'cuda' (optionally 'cuda:N')."""
    callback: ProgressCallback = _ignore_progress
    should_stop: StopCheck = _never_stop


@dataclass
class ModelCard:
    """A model card draft; the registry lets people edit it before approval."""

    title: str
    intended_use: str
    data: str
    metrics: dict[str, float]
    limits: str
    training: str = ""

    def to_markdown(self) -> str:
        metric_rows = "\n".join(f"| {name} | {value:.4f} |" for name, value in sorted(self.metrics.items()))
        return (
            f"# {self.title}\n\n## Intended use\n{self.intended_use}\n\n## Data\n{self.data}\n\n"
            f"## Training\n{self.training}\n\n## Metrics (testing split)\n| metric | value |\n"
            f"| --- | --- |\n{metric_rows}\n\n## Limits\n{self.limits}\n"
        )


@dataclass
class TrainingResult:
    bundle: ModelBundle
    metrics: dict[str, float]
    """Headline metrics on the testing split."""
    evaluation: dict[str, Any]
    """Plot data for the console (confusion matrix, curves...), JSON-compatible. `predictions` holds,
    per testing sample, {"key": ..., **the predictor's result}, plus "input" where the input was not
    simply `sample_input(sample)` (a forecast origin, say): the parity tests replay these through the
    serving path."""
    model_card: ModelCard
    stopped: bool = False
    """True when `should_stop` ended training early; the bundle holds the model trained so far."""
    history: list[Progress] = field(default_factory=list)


@dataclass(frozen=True)
class QualityBar:
    """The quality an algorithm must reach on its demo data with default parameters."""

    metric: str
    minimum: float | None = None
    maximum: float | None = None

    def met_by(self, metrics: dict[str, float]) -> bool:
        value = metrics[self.metric]
        if self.minimum is not None and value < self.minimum:
            return False
        return not (self.maximum is not None and value >= self.maximum)

    def describe(self) -> str:
        if self.minimum is not None:
            return f"{self.metric} >= {self.minimum}"
        return f"{self.metric} < {self.maximum}"


class Algorithm(ABC):
    """Base class of every algorithm. Subclasses set the class attributes and implement the methods."""

    id: ClassVar[str]
    version: ClassVar[str]
    scenario: ClassVar[Scenario]
    title: ClassVar[str]
    description: ClassVar[str]
    dataset_format: ClassVar[DatasetFormat]
    quality_bars: ClassVar[tuple[QualityBar, ...]] = ()

    @abstractmethod
    def parameter_schema(self) -> dict[str, Any]:
        """JSON Schema (draft 2020-12) of the parameters, with defaults, bounds, enums, descriptions
        and UI hints (`x-widget`, `x-group`)."""

    @abstractmethod
    def presets(self) -> dict[str, dict[str, Any]]:
        """Named parameter sets; at least 'quick' (tests, demos) and 'default'."""

    def read_dataset(self, samples: Sequence[Sample]) -> DatasetSplits:
        """Check media types and annotations against the dataset format and split samples by purpose,
        in an order that does not depend on storage."""
        import jsonschema

        validator = jsonschema.Draft202012Validator(self.dataset_format.annotation_schema)
        accepted = {media_essence(t) for t in self.dataset_format.media_types}
        for sample in samples:
            essence = media_essence(sample.media_type)
            # The Sample default (octet-stream) means "not declared": only declared types are checked.
            if accepted and essence != UNDECLARED_MEDIA_TYPE and essence not in accepted:
                raise InvalidArgument(
                    f"sample {sample.key}: media type {sample.media_type} is not one this algorithm reads "
                    f"({', '.join(self.dataset_format.media_types)})",
                    field="dataset",
                )
            error = jsonschema.exceptions.best_match(validator.iter_errors(sample.annotation))
            if error is not None:
                raise InvalidArgument(f"sample {sample.key}: annotation {error.message}", field="dataset")
        splits = split_by_purpose(samples)
        missing = [p for p in self.dataset_format.requires_purposes if not getattr(splits, str(p))]
        if missing:
            raise InvalidArgument(
                f"needs samples with purpose {', '.join(str(p) for p in missing)}", field="dataset"
            )
        return splits

    @abstractmethod
    def train(
        self, samples: Sequence[Sample], params: dict[str, Any], context: TrainingContext
    ) -> TrainingResult:
        """Train on validated, defaults-filled parameters (see `AlgorithmRegistry.validate`)."""

    @abstractmethod
    def predictor(self, bundle: ModelBundle, *, device: str = "auto") -> Predictor:
        """The serving path: the bundle's ONNX model wrapped in the shared pre/post-processing."""

    @abstractmethod
    def demo_dataset(self, seed: int = 0) -> list[Sample]:
        """A small realistic dataset made by code, with purpose labels."""

    def sample_input(self, sample: Sample) -> Any:
        """The human-friendly input a sample stands for (what a user would send to the predictor)."""
        return sample.content

    @abstractmethod
    def example_input(self) -> Any:
        """A human-friendly input the console can prefill (a sentence, a JSON array, image bytes)."""

    def describe(self) -> dict[str, Any]:
        """What the console and the training service show about this algorithm."""
        fmt = self.dataset_format
        return {
            "id": self.id,
            "version": self.version,
            "scenario": str(self.scenario),
            "title": self.title,
            "description": self.description,
            "parameters": self.parameter_schema(),
            "presets": self.presets(),
            "dataset_format": {
                "media_types": list(fmt.media_types),
                "annotation": fmt.annotation,
                "annotation_schema": fmt.annotation_schema,
                "requires_purposes": [str(p) for p in fmt.requires_purposes],
                "notes": fmt.notes,
            },
            "quality_bars": [bar.describe() for bar in self.quality_bars],
        }


def split_by_purpose(samples: Sequence[Sample], validation_fraction: float = 0.1) -> DatasetSplits:
    """Group samples by purpose, ordered by key. Without validation samples, a stable slice of the
    training samples (chosen by a hash of the key, so it never depends on order) becomes validation."""
    ordered = sorted(samples, key=lambda s: s.key)
    training = [s for s in ordered if s.purpose is Purpose.TRAINING]
    validation = [s for s in ordered if s.purpose is Purpose.VALIDATION]
    testing = [s for s in ordered if s.purpose is Purpose.TESTING]
    if not validation and len(training) >= 10:
        bucket = round(validation_fraction * 1000)
        validation = [s for s in training if _key_bucket(s.key) < bucket]
        training = [s for s in training if _key_bucket(s.key) >= bucket]
    return DatasetSplits(training=training, validation=validation, testing=testing)


def _key_bucket(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % 1000
