"""The draft a dataset's owners edit, and the immutable versions publishing freezes it into."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from mlops.kernel.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound

from .manifest import Manifest
from .model import Dataset, Sample, Scenario, check_annotation, utcnow

MAX_MESSAGE_LENGTH = 2000


class VersionState(StrEnum):
    PUBLISHED = "published"
    # Hidden from pickers but kept whole: runs and models that used it can still be reproduced.
    ARCHIVED = "archived"


def run_user(run_id: str) -> str:
    """How a training run is named among a version's users."""
    return f"run:{run_id}"


def model_user(model_name: str, number: int) -> str:
    """How a registered model version is named among a version's users."""
    return f"model:{model_name}/v{number}"


@dataclass(frozen=True)
class DatasetVersion:
    """A published snapshot. Its manifest never changes; only its archive state and users do."""

    dataset_id: str
    number: int
    scenario: Scenario
    manifest: Manifest
    manifest_digest: str
    author: str
    message: str
    created_at: datetime
    state: VersionState = VersionState.PUBLISHED
    used_by: frozenset[str] = frozenset()

    @property
    def sample_count(self) -> int:
        return len(self.manifest)

    @property
    def total_bytes(self) -> int:
        return self.manifest.total_bytes()

    @property
    def counts_per_purpose(self) -> dict[str, int]:
        return self.manifest.counts_per_purpose()

    @property
    def counts_per_label(self) -> dict[str, int]:
        return self.manifest.counts_per_label()

    @property
    def archived(self) -> bool:
        return self.state is VersionState.ARCHIVED

    def archive(self) -> DatasetVersion:
        return replace(self, state=VersionState.ARCHIVED)

    def unarchive(self) -> DatasetVersion:
        return replace(self, state=VersionState.PUBLISHED)

    def add_user(self, user: str) -> DatasetVersion:
        """Uses arrive as events that may be redelivered: adding one twice is harmless."""
        if not user:
            raise InvalidArgument("a version's user needs a name", field="used_by")
        return replace(self, used_by=self.used_by | {user})

    def remove_user(self, user: str) -> DatasetVersion:
        return replace(self, used_by=self.used_by - {user})

    def ensure_deletable(self) -> None:
        if self.used_by:
            users = ", ".join(sorted(self.used_by))
            raise FailedPrecondition(
                f"version {self.number} cannot be deleted: it is used by {users}", field="number"
            )

    def verify(self) -> None:
        """Refuses a version whose manifest does not hash to its recorded digest (a corrupted copy)."""
        actual = self.manifest.digest()
        if actual != self.manifest_digest:
            raise FailedPrecondition(
                f"version {self.number}: its manifest hashes to {actual}, "
                f"not to the recorded {self.manifest_digest}"
            )


def check_publishable(sample_count: int, message: str) -> None:
    """What a publish needs besides an unchanged-draft check: samples, and a message of bounded size."""
    if not sample_count:
        raise FailedPrecondition("an empty draft cannot be published: add samples first", field="dataset_id")
    if len(message) > MAX_MESSAGE_LENGTH:
        raise InvalidArgument(f"a message has at most {MAX_MESSAGE_LENGTH} characters", field="message")


def ensure_dataset_deletable(versions: Iterable[DatasetVersion]) -> None:
    """A dataset goes only when none of its versions is in use."""
    used = [v for v in versions if v.used_by]
    if used:
        detail = "; ".join(f"v{v.number} by {', '.join(sorted(v.used_by))}" for v in used)
        raise FailedPrecondition(f"the dataset cannot be deleted: {detail}", field="dataset_id")


@dataclass
class Draft:
    """The editable sample set of a dataset, keyed by sample name (names are unique in a dataset)."""

    dataset_id: str
    scenario: Scenario
    samples: dict[str, Sample] = field(default_factory=dict)

    @classmethod
    def of(cls, dataset: Dataset, samples: Iterable[Sample] = ()) -> Draft:
        draft = cls(dataset.dataset_id, dataset.scenario)
        draft.add(samples)
        return draft

    def __len__(self) -> int:
        return len(self.samples)

    def add(self, samples: Iterable[Sample], *, replace_existing: bool = False) -> list[Sample]:
        """Adds all or none: a clash with an existing name refuses the whole batch unless replacing."""
        batch: dict[str, Sample] = {}
        for sample in samples:
            check_annotation(self.scenario, sample.annotation, field=f"samples[{sample.name}].annotation")
            if sample.name in batch:
                raise AlreadyExists(f"sample {sample.name!r} appears twice in the upload", field="name")
            if sample.name in self.samples and not replace_existing:
                raise AlreadyExists(f"the draft already has a sample named {sample.name!r}", field="name")
            batch[sample.name] = sample
        self.samples.update(batch)
        return list(batch.values())

    def get(self, name: str) -> Sample:
        try:
            return self.samples[name]
        except KeyError:
            raise NotFound(f"no sample named {name!r} in the draft", field="name") from None

    def remove(self, name: str) -> Sample:
        sample = self.get(name)
        del self.samples[name]
        return sample

    def update(self, sample: Sample) -> None:
        self.get(sample.name)
        check_annotation(self.scenario, sample.annotation, field="annotation")
        self.samples[sample.name] = sample

    def manifest(self) -> Manifest:
        return Manifest.of(self.samples.values())

    def publish(
        self,
        dataset: Dataset,
        *,
        author: str,
        message: str = "",
        now: datetime | None = None,
        latest: DatasetVersion | None = None,
    ) -> DatasetVersion:
        """Freezes the draft as the dataset's next version.

        A draft identical to the latest version is refused too: a retried or concurrent publish of
        the same draft must not make a second, identical version.
        """
        if dataset.dataset_id != self.dataset_id:
            raise InvalidArgument("the draft belongs to another dataset", field="dataset_id")
        check_publishable(len(self.samples), message)
        manifest = self.manifest()
        digest = manifest.digest()
        if latest is not None and latest.manifest_digest == digest:
            raise FailedPrecondition(
                f"the draft is unchanged since version {latest.number}: nothing to publish",
                field="dataset_id",
            )
        return DatasetVersion(
            dataset_id=dataset.dataset_id,
            number=dataset.next_version_number(),
            scenario=dataset.scenario,
            manifest=manifest,
            manifest_digest=digest,
            author=author,
            message=message,
            created_at=now or utcnow(),
        )

    def restore(self, version: DatasetVersion) -> None:
        """The draft becomes exactly the version's content (samples get new row ids)."""
        if version.dataset_id != self.dataset_id:
            raise InvalidArgument("the version belongs to another dataset", field="number")
        self.samples = {e.name: e.to_sample() for e in version.manifest.entries}
