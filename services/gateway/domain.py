"""API tokens: issuing, checking and revoking. Plain Python; the store persists what this decides."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from mlops.kernel.auth import Principal, Role, hash_token, new_token, token_id_of, token_matches
from mlops.kernel.errors import InvalidArgument

MAX_SUBJECT_LENGTH = 255
MAX_DESCRIPTION_LENGTH = 1000


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ApiToken:
    """A token's record. The secret itself is never kept: `hash` is its SHA-256."""

    token_id: str
    subject: str
    role: Role
    description: str
    hash: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def is_active(self, now: datetime) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or now < self.expires_at

    def matches(self, token: str) -> bool:
        return token_matches(token, self.hash)

    def principal(self) -> Principal:
        return Principal(subject=self.subject, role=self.role, token_id=self.token_id)

    def revoke(self, now: datetime) -> ApiToken:
        """Revoking twice keeps the first revocation time, so a retried revoke is harmless."""
        if self.revoked_at is not None:
            return self
        return replace(self, revoked_at=now)


def issue_token(
    *,
    role: Role,
    created_by: str,
    now: datetime,
    subject: str = "",
    description: str = "",
    ttl_seconds: int = 0,
) -> tuple[ApiToken, str]:
    """A new token and its secret, which the caller shows once."""
    token_id, secret = new_token()
    record = _record(token_id, secret, role, created_by, now, subject, description, ttl_seconds)
    return record, secret


def register_token(
    secret: str, *, role: Role, subject: str, created_by: str, now: datetime, description: str = ""
) -> ApiToken:
    """The record of a token generated elsewhere (a bootstrap secret handed in by the deployer)."""
    token_id = token_id_of(secret)
    if token_id is None:
        raise InvalidArgument("a token looks like mlops_<id>_<secret>", field="token")
    return _record(token_id, secret, role, created_by, now, subject, description, 0)


def _record(
    token_id: str,
    secret: str,
    role: Role,
    created_by: str,
    now: datetime,
    subject: str,
    description: str,
    ttl_seconds: int,
) -> ApiToken:
    subject = subject.strip() or f"{role.value}-{token_id}"
    if len(subject) > MAX_SUBJECT_LENGTH:
        raise InvalidArgument(f"at most {MAX_SUBJECT_LENGTH} characters", field="subject")
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidArgument(f"at most {MAX_DESCRIPTION_LENGTH} characters", field="description")
    if ttl_seconds < 0:
        raise InvalidArgument("0 (never expires) or a positive number of seconds", field="ttl_seconds")
    expires_at = now + timedelta(seconds=ttl_seconds) if ttl_seconds else None
    return ApiToken(
        token_id=token_id,
        subject=subject,
        role=role,
        description=description,
        hash=hash_token(secret),
        created_at=now,
        created_by=created_by,
        expires_at=expires_at,
    )
