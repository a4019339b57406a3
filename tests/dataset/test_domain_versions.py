"""Drafts, immutable versions and their manifests: publish, diff, restore, archive, protection."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime

import pytest

from mlops.kernel.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from services.dataset.domain import (
    BoundingBox,
    Boxes,
    Dataset,
    DatasetVersion,
    Draft,
    Label,
    Manifest,
    Purpose,
    Sample,
    Scenario,
    VersionState,
    diff_manifests,
    ensure_dataset_deletable,
    model_user,
    run_user,
)

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def image(name: str, label: str, purpose: Purpose = Purpose.TRAINING, content: str = "") -> Sample:
    return Sample(
        name=name,
        content_sha256=sha(content or name),
        size_bytes=100,
        media_type="image/png",
        purpose=purpose,
        annotation=Label(label),
    )


@pytest.fixture
def dataset() -> Dataset:
    return Dataset.create(name="pets", scenario=Scenario.IMAGE_CLASSIFICATION, owner="ana", now=NOW)


def published(dataset: Dataset, samples: list[Sample]) -> DatasetVersion:
    return Draft.of(dataset, samples).publish(dataset, author="ana", message="first", now=NOW)


def test_the_manifest_is_canonical_whatever_the_order(dataset: Dataset) -> None:
    samples = [image("b.png", "dog"), image("a.png", "cat", Purpose.TESTING), image("c.png", "cat")]
    forward, backward = Manifest.of(samples), Manifest.of(reversed(samples))
    assert [e.name for e in forward.entries] == ["a.png", "b.png", "c.png"]
    assert forward.to_bytes() == backward.to_bytes()
    assert forward.digest() == hashlib.sha256(forward.to_bytes()).hexdigest()
    assert Manifest.from_bytes(forward.to_bytes()) == forward
    assert b" " not in forward.to_bytes()


def test_publish_freezes_the_draft_with_counts_and_digest(dataset: Dataset) -> None:
    samples = [image("a.png", "cat"), image("b.png", "dog", Purpose.VALIDATION), image("c.png", "cat")]
    version = published(dataset, samples)
    assert version.number == 1 and version.state is VersionState.PUBLISHED
    assert version.sample_count == 3 and version.total_bytes == 300
    assert version.counts_per_purpose == {"training": 2, "validation": 1, "testing": 0}
    assert version.counts_per_label == {"cat": 2, "dog": 1}
    assert version.manifest_digest == Manifest.of(samples).digest()
    assert (version.author, version.message, version.scenario) == (
        "ana",
        "first",
        Scenario.IMAGE_CLASSIFICATION,
    )
    version.verify()
    with pytest.raises(dataclasses.FrozenInstanceError):
        version.manifest = Manifest(())  # type: ignore[misc]


def test_a_published_version_does_not_follow_later_draft_edits(dataset: Dataset) -> None:
    draft = Draft.of(dataset, [image("a.png", "cat")])
    version = draft.publish(dataset, author="ana", now=NOW)
    draft.update(draft.get("a.png").with_changes(annotation=Label("dog")))
    draft.add([image("b.png", "dog")])
    assert [e.label for e in version.manifest.entries] == ["cat"]
    assert version.manifest.digest() == version.manifest_digest


def test_an_empty_draft_cannot_be_published(dataset: Dataset) -> None:
    with pytest.raises(FailedPrecondition, match="empty draft"):
        Draft.of(dataset).publish(dataset, author="ana")


def test_an_unchanged_draft_is_not_published_twice(dataset: Dataset) -> None:
    draft = Draft.of(dataset, [image("a.png", "cat")])
    first = draft.publish(dataset, author="ana", now=NOW)
    with pytest.raises(FailedPrecondition, match="unchanged since version 1"):
        draft.publish(dataclasses.replace(dataset, latest_version=1), author="ana", latest=first)


def test_the_next_version_takes_the_next_number(dataset: Dataset) -> None:
    draft = Draft.of(dataset, [image("a.png", "cat")])
    draft.add([image("b.png", "cat")])
    version = draft.publish(dataclasses.replace(dataset, latest_version=4), author="bo")
    assert version.number == 5


def test_a_draft_refuses_duplicate_names_and_wrong_annotations(dataset: Dataset) -> None:
    draft = Draft.of(dataset, [image("a.png", "cat")])
    with pytest.raises(AlreadyExists, match="already has"):
        draft.add([image("a.png", "dog")])
    with pytest.raises(AlreadyExists, match="twice"):
        draft.add([image("b.png", "dog"), image("b.png", "cat")])
    assert len(draft) == 1, "a refused batch adds nothing"
    draft.add([image("a.png", "dog")], replace_existing=True)
    assert draft.get("a.png").label == "dog"
    boxes = Boxes((BoundingBox("cat", 0, 0, 1, 1),))
    with pytest.raises(InvalidArgument, match="label annotation"):
        draft.add([image("c.png", "cat").with_changes(annotation=boxes)])


def test_diff_reports_additions_removals_and_moves(dataset: Dataset) -> None:
    before = Manifest.of(
        [image("a.png", "cat"), image("b.png", "dog"), image("c.png", "cat"), image("d.png", "cat")]
    )
    after = Manifest.of(
        [
            image("a.png", "cat"),
            image("b.png", "cat"),  # label move
            image("c.png", "cat", Purpose.TESTING),  # purpose move
            image("d.png", "cat", content="new pixels"),  # content change
            image("e.png", "dog"),
        ]
    )
    diff = diff_manifests(before, after)
    assert [c.name for c in diff.added] == ["e.png"] and diff.added[0].from_sha256 == ""
    assert diff.removed == ()
    assert [c.name for c in diff.changed] == ["b.png", "c.png", "d.png"]
    assert (diff.label_moves, diff.purpose_moves) == (1, 1)
    b_change = diff.changed[0]
    assert (b_change.from_label, b_change.to_label) == ("dog", "cat")
    assert diff.changed[1].to_purpose is Purpose.TESTING
    assert diff.changed[2].from_sha256 != diff.changed[2].to_sha256
    reverse = diff_manifests(after, before)
    assert [c.name for c in reverse.removed] == ["e.png"] and reverse.removed[0].to_purpose is None
    assert diff_manifests(before, before).is_empty()


def test_restore_makes_the_draft_exactly_the_version(dataset: Dataset) -> None:
    draft = Draft.of(dataset, [image("a.png", "cat"), image("b.png", "dog", Purpose.TESTING)])
    version = draft.publish(dataset, author="ana", now=NOW)
    draft.remove("a.png")
    draft.add([image("z.png", "cat")])
    draft.update(draft.get("b.png").with_changes(purpose=Purpose.TRAINING))
    draft.restore(version)
    assert draft.manifest() == version.manifest
    assert draft.manifest().digest() == version.manifest_digest
    other = Dataset.create(name="other", scenario=Scenario.IMAGE_CLASSIFICATION, owner="ana")
    with pytest.raises(InvalidArgument):
        Draft.of(other).restore(version)


def test_archive_hides_without_changing_content(dataset: Dataset) -> None:
    version = published(dataset, [image("a.png", "cat")])
    archived = version.archive()
    assert archived.archived and archived.manifest_digest == version.manifest_digest
    assert archived.archive() == archived, "archiving twice is harmless"
    assert not archived.unarchive().archived


def test_a_used_version_cannot_be_deleted_and_names_its_users(dataset: Dataset) -> None:
    version = published(dataset, [image("a.png", "cat")])
    version.ensure_deletable()
    used = version.add_user(run_user("r-42")).add_user(model_user("pets-clf", 3)).add_user(run_user("r-42"))
    assert used.used_by == {"run:r-42", "model:pets-clf/v3"}
    with pytest.raises(FailedPrecondition, match=r"used by model:pets-clf/v3, run:r-42"):
        used.ensure_deletable()
    with pytest.raises(FailedPrecondition, match="v1 by"):
        ensure_dataset_deletable([used])
    used.remove_user("run:r-42").remove_user("model:pets-clf/v3").ensure_deletable()


def test_a_tampered_manifest_fails_verification(dataset: Dataset) -> None:
    version = published(dataset, [image("a.png", "cat")])
    tampered = dataclasses.replace(version, manifest=Manifest.of([image("a.png", "dog")]))
    with pytest.raises(FailedPrecondition, match="hashes to"):
        tampered.verify()


def test_manifest_keeps_time_and_metadata(dataset: Dataset) -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    sample = image("a.png", "cat").with_changes(metadata={"w": 8, "src": "cam"}, observed_at=moment)
    manifest = Manifest.of([sample])
    assert b'"observed_at":"2026-01-02T03:04:05Z"' in manifest.to_bytes()
    entry = Manifest.from_bytes(manifest.to_bytes()).entries[0]
    assert entry.observed_at == moment and entry.metadata == {"w": 8, "src": "cam"}
    with pytest.raises(InvalidArgument, match="two samples"):
        Manifest.of([image("a.png", "cat"), image("a.png", "dog")])
