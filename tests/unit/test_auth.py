"""Roles, permissions and token handling."""

from __future__ import annotations

import pytest

from mlops.kernel import auth
from mlops.kernel.auth import Permission, Role
from mlops.kernel.errors import InvalidArgument


def test_a_token_is_stored_only_as_its_hash_and_names_its_id() -> None:
    token_id, token = auth.new_token()
    digest = auth.hash_token(token)
    assert token_id in token and digest != token and len(digest) == 64
    assert auth.token_id_of(token) == token_id
    assert auth.token_matches(token, digest)
    assert not auth.token_matches(token + "x", digest)


@pytest.mark.parametrize("value", ["", "mlops_", "mlops__secret", "other_abc_def", "plain"])
def test_malformed_tokens_have_no_id(value: str) -> None:
    assert auth.token_id_of(value) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), ("Bearer ", None), (None, None)],
)
def test_bearer_header_parsing(header: str | None, expected: str | None) -> None:
    assert auth.bearer_token(header) == expected


def test_role_permissions_follow_the_duties() -> None:
    viewer = auth.Principal("v", Role.VIEWER)
    scientist = auth.Principal("s", Role.DATA_SCIENTIST)
    engineer = auth.Principal("e", Role.MLOPS_ENGINEER)
    auditor = auth.Principal("a", Role.AUDITOR)
    admin = auth.Principal("root", Role.ADMIN)
    assert viewer.can(Permission.DATASET_READ) and not viewer.can(Permission.DATASET_WRITE)
    assert scientist.can(Permission.TRAINING_RUN) and not scientist.can(Permission.REGISTRY_APPROVE)
    assert engineer.can(Permission.REGISTRY_APPROVE) and engineer.can(Permission.TRAINING_OPERATE)
    assert auditor.can(Permission.AUDIT_READ) and not auditor.can(Permission.DATASET_WRITE)
    assert all(admin.can(p) for p in Permission)
    assert not auth.Principal("svc", Role.SERVICE).can(Permission.TOKENS_MANAGE)


def test_unknown_role_names_the_allowed_ones() -> None:
    with pytest.raises(InvalidArgument) as refused:
        auth.parse_role("superuser")
    assert refused.value.field == "role" and "data-scientist" in refused.value.message
    assert Role.SERVICE.value not in refused.value.message
