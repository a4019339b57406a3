"""Token rules, the health roll-up and the audit outcome mapping, without servers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlops.cli.client import CliError
from mlops.cli.tokens import parse_ttl
from mlops.kernel.auth import Role, hash_token, new_token
from mlops.kernel.errors import InvalidArgument
from services.gateway.api.auditing import outcome_for
from services.gateway.domain import issue_token, register_token
from services.gateway.health import DEGRADED, HEALTHY, UNHEALTHY, rollup

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_an_issued_token_stores_only_the_hash_of_its_secret() -> None:
    record, secret = issue_token(role=Role.VIEWER, subject="vic", created_by="admin", now=NOW)
    assert secret.startswith(f"mlops_{record.token_id}_")
    assert record.hash == hash_token(secret)
    assert secret not in repr(record)
    assert record.matches(secret)
    assert not record.matches(secret + "x")
    assert record.principal().role is Role.VIEWER


def test_subject_defaults_to_role_and_id() -> None:
    record, _ = issue_token(role=Role.AUDITOR, created_by="admin", now=NOW, subject="  ")
    assert record.subject == f"auditor-{record.token_id}"


def test_expiry_and_revocation_end_a_token() -> None:
    record, _ = issue_token(role=Role.VIEWER, created_by="admin", now=NOW, ttl_seconds=60)
    assert record.expires_at == NOW + timedelta(seconds=60)
    assert record.is_active(NOW + timedelta(seconds=59))
    assert not record.is_active(NOW + timedelta(seconds=60))
    revoked = record.revoke(NOW)
    assert not revoked.is_active(NOW)
    assert revoked.revoke(NOW + timedelta(hours=1)).revoked_at == NOW
    forever, _ = issue_token(role=Role.VIEWER, created_by="admin", now=NOW)
    assert forever.expires_at is None and forever.is_active(NOW + timedelta(days=3650))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"ttl_seconds": -1}, "ttl_seconds"),
        ({"subject": "x" * 256}, "subject"),
        ({"description": "d" * 1001}, "description"),
    ],
)
def test_invalid_token_fields_are_refused(fields: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        issue_token(role=Role.VIEWER, created_by="admin", now=NOW, **fields)  # type: ignore[arg-type]
    assert refused.value.field == field


def test_registering_a_handed_in_token_keeps_its_id() -> None:
    token_id, secret = new_token()
    record = register_token(secret, role=Role.ADMIN, subject="admin", created_by="bootstrap", now=NOW)
    assert record.token_id == token_id and record.matches(secret)
    with pytest.raises(InvalidArgument):
        register_token("plain-password", role=Role.ADMIN, subject="admin", created_by="bootstrap", now=NOW)


def test_health_rolls_up_to_healthy_degraded_or_unhealthy() -> None:
    assert rollup([HEALTHY, HEALTHY]) == HEALTHY
    assert rollup([HEALTHY, UNHEALTHY]) == DEGRADED
    assert rollup([UNHEALTHY, UNHEALTHY]) == UNHEALTHY


def test_http_statuses_map_to_audit_outcomes() -> None:
    assert [outcome_for(s) for s in (200, 201, 401, 403, 404, 500)] == [
        "ok",
        "ok",
        "unauthenticated",
        "denied",
        "error",
        "error",
    ]


@pytest.mark.parametrize(
    ("text", "seconds"), [("0", 0), ("3600", 3600), ("90m", 5400), ("12h", 43200), ("30d", 2592000)]
)
def test_ttl_accepts_seconds_or_a_unit(text: str, seconds: int) -> None:
    assert parse_ttl(text) == seconds


def test_ttl_refuses_nonsense() -> None:
    with pytest.raises(CliError):
        parse_ttl("soon")
