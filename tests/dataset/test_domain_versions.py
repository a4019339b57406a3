"""Manifests (canonical, written whole or page by page, diffed) and the rules of versions: what a
publish needs, what keeps a version or dataset from being deleted, and who may delete them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from mlops.kernel.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from services.dataset.domain import (
    Label,
    Manifest,
    ManifestWriter,
    Purpose,
    Sample,
    authorize_removal,
    check_dataset_deletable,
    check_draft_changed,
    check_publishable,
    check_version_deletable,
    diff_manifests,
    manifest_document,
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


@dataclass(frozen=True)
class Version:
    number: int
    manifest_digest: str = ""
    used_by: tuple[str, ...] = ()


def test_the_manifest_is_canonical_whatever_the_order() -> None:
    samples = [image("b.png", "dog"), image("a.png", "cat", Purpose.TESTING), image("c.png", "cat")]
    forward, backward = Manifest.of(samples), Manifest.of(reversed(samples))
    assert [e.name for e in forward.entries] == ["a.png", "b.png", "c.png"]
    assert forward.to_bytes() == backward.to_bytes()
    assert forward.digest() == hashlib.sha256(forward.to_bytes()).hexdigest()
    assert Manifest.from_bytes(forward.to_bytes()) == forward
    assert b" " not in forward.to_bytes()


def test_the_manifest_written_page_by_page_is_the_same_document() -> None:
    entries = [e.canonical() for e in Manifest.of([image(f"{n:03d}.png", "cat") for n in range(7)]).entries]
    for page in (1, 3, 7, 50):
        writer = ManifestWriter()
        parts = [writer.start()]
        parts += [writer.entries(entries[i : i + page]) for i in range(0, len(entries), page)]
        parts += [writer.entries([]), writer.end()]
        assert b"".join(parts) == manifest_document(entries)
    empty = ManifestWriter()
    assert empty.start() + empty.end() == manifest_document([])


def test_a_publish_needs_samples_a_short_message_and_a_changed_draft() -> None:
    check_publishable(1, "first")
    with pytest.raises(FailedPrecondition, match="empty draft"):
        check_publishable(0, "")
    with pytest.raises(InvalidArgument, match="at most 2000"):
        check_publishable(1, "x" * 2001)
    check_draft_changed(None, sha("a"))
    check_draft_changed(Version(1, sha("a")), sha("b"))
    with pytest.raises(FailedPrecondition, match="unchanged since version 4"):
        check_draft_changed(Version(4, sha("a")), sha("a"))


def test_a_used_version_cannot_be_deleted_and_names_its_users() -> None:
    check_version_deletable(Version(1))
    used = Version(1, used_by=(run_user("r-42"), model_user("pets-clf", 3)))
    with pytest.raises(FailedPrecondition, match=r"used by model:pets-clf/v3, run:r-42"):
        check_version_deletable(used)
    with pytest.raises(FailedPrecondition, match=r"v1 by model:pets-clf/v3, run:r-42"):
        check_dataset_deletable([Version(2), used])
    check_dataset_deletable([Version(1), Version(2)])


def test_only_the_owner_or_an_operator_deletes() -> None:
    authorize_removal("ana", "ana", may_operate=False, what="the dataset")
    authorize_removal("ana", "ops-bot", may_operate=True, what="version 2")
    with pytest.raises(
        PermissionDenied, match=r"owner \(ana\) or a holder of dataset:operate may delete version 2"
    ):
        authorize_removal("ana", "sam", may_operate=False, what="version 2")


def test_diff_reports_additions_removals_and_moves() -> None:
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


def test_manifest_keeps_time_and_metadata() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    sample = image("a.png", "cat").with_changes(metadata={"w": 8, "src": "cam"}, observed_at=moment)
    manifest = Manifest.of([sample])
    assert b'"observed_at":"2026-01-02T03:04:05Z"' in manifest.to_bytes()
    entry = Manifest.from_bytes(manifest.to_bytes()).entries[0]
    assert entry.observed_at == moment and entry.metadata == {"w": 8, "src": "cam"}
    with pytest.raises(InvalidArgument, match="two samples"):
        Manifest.of([image("a.png", "cat"), image("a.png", "dog")])
