"""The rules about published versions: their states, who uses them, when a draft may become one, and
when a version or its dataset may go.

Publishing itself runs over the draft's stored rows (services/dataset/service.py, without a domain
object per sample, so that a 1% change to a large draft stays cheap): these are the checks it and
the deletes apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Protocol

from mlops.kernel.errors import FailedPrecondition, InvalidArgument, PermissionDenied

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


class PublishedVersion(Protocol):
    """What the rules need of a version (the store's VersionRecord is one)."""

    @property
    def number(self) -> int: ...
    @property
    def manifest_digest(self) -> str: ...
    @property
    def used_by(self) -> Sequence[str]: ...


def check_publishable(sample_count: int, message: str) -> None:
    """What a publish needs besides a changed draft: samples, and a message of bounded size."""
    if not sample_count:
        raise FailedPrecondition("an empty draft cannot be published: add samples first", field="dataset_id")
    if len(message) > MAX_MESSAGE_LENGTH:
        raise InvalidArgument(f"a message has at most {MAX_MESSAGE_LENGTH} characters", field="message")


def check_draft_changed(latest: PublishedVersion | None, draft_digest: str) -> None:
    """A draft identical to the latest version is refused: a retried or concurrent publish of the same
    draft must not make a second, identical version."""
    if latest is not None and latest.manifest_digest == draft_digest:
        raise FailedPrecondition(
            f"the draft is unchanged since version {latest.number}: nothing to publish", field="dataset_id"
        )


def check_version_deletable(version: PublishedVersion) -> None:
    """A version that a run or a registered model uses stays (its users are named)."""
    if version.used_by:
        raise FailedPrecondition(
            f"version {version.number} cannot be deleted: it is used by {', '.join(sorted(version.used_by))}",
            field="number",
        )


def check_dataset_deletable(versions: Iterable[PublishedVersion]) -> None:
    """A dataset goes only when none of its versions is in use."""
    used = [v for v in versions if v.used_by]
    if used:
        detail = "; ".join(f"v{v.number} by {', '.join(sorted(v.used_by))}" for v in used)
        raise FailedPrecondition(f"the dataset cannot be deleted: {detail}", field="dataset_id")


def authorize_removal(owner: str, caller: str, *, may_operate: bool, what: str) -> None:
    """Deleting a dataset or one of its versions is its owner's call, or an operator's
    (dataset:operate, which mlops-engineers and admins hold)."""
    if caller != owner and not may_operate:
        raise PermissionDenied(
            f"only the dataset's owner ({owner}) or a holder of dataset:operate may delete {what}",
            field="dataset_id",
        )
