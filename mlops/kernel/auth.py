"""API tokens, roles and permissions.

A token is `mlops_<token id>_<secret>`; only the SHA-256 of the whole token is stored (the secret is
256 random bits, so a slow hash adds nothing). Roles map to permissions here, once, for every service.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from mlops.kernel.errors import InvalidArgument


class Role(StrEnum):
    VIEWER = "viewer"
    DATA_SCIENTIST = "data-scientist"
    MLOPS_ENGINEER = "mlops-engineer"
    AUDITOR = "auditor"
    ADMIN = "admin"
    # Held by the platform's own processes (workers, relays); never handed to a person.
    SERVICE = "service"


class Permission(StrEnum):
    DATASET_READ = "dataset:read"
    DATASET_WRITE = "dataset:write"
    # Collect garbage across datasets; delete any user's dataset or version (owners may always
    # delete their own).
    DATASET_OPERATE = "dataset:operate"
    TRAINING_READ = "training:read"
    TRAINING_RUN = "training:run"
    # Stop or retry any user's run (owners may always act on their own runs).
    TRAINING_OPERATE = "training:operate"
    REGISTRY_READ = "registry:read"
    REGISTRY_WRITE = "registry:write"
    REGISTRY_APPROVE = "registry:approve"
    SERVING_READ = "serving:read"
    SERVING_DEPLOY = "serving:deploy"
    SERVING_INVOKE = "serving:invoke"
    SERVING_WORKER = "serving:worker"
    AUDIT_READ = "audit:read"
    TOKENS_MANAGE = "tokens:manage"
    PLATFORM_READ = "platform:read"


_READ = {
    Permission.DATASET_READ,
    Permission.TRAINING_READ,
    Permission.REGISTRY_READ,
    Permission.SERVING_READ,
    Permission.PLATFORM_READ,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset(_READ),
    Role.AUDITOR: frozenset(_READ | {Permission.AUDIT_READ}),
    Role.DATA_SCIENTIST: frozenset(
        _READ
        | {
            Permission.DATASET_WRITE,
            Permission.TRAINING_RUN,
            Permission.REGISTRY_WRITE,
            Permission.SERVING_DEPLOY,
            Permission.SERVING_INVOKE,
        }
    ),
    Role.MLOPS_ENGINEER: frozenset(
        _READ
        | {
            Permission.DATASET_WRITE,
            Permission.DATASET_OPERATE,
            Permission.TRAINING_RUN,
            Permission.TRAINING_OPERATE,
            Permission.REGISTRY_WRITE,
            Permission.REGISTRY_APPROVE,
            Permission.SERVING_DEPLOY,
            Permission.SERVING_INVOKE,
            Permission.AUDIT_READ,
        }
    ),
    Role.ADMIN: frozenset(Permission),
    Role.SERVICE: frozenset(Permission) - {Permission.TOKENS_MANAGE},
}

# Roles a person can be given a token for.
ASSIGNABLE_ROLES = [r for r in Role if r is not Role.SERVICE]


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    token_id: str = ""

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


ANONYMOUS = Principal(subject="anonymous", role=Role.VIEWER, token_id="")

# The principal of the request being handled, set by the auth interceptor or HTTP dependency.
current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "current_principal", default=None
)


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        allowed = ", ".join(r.value for r in ASSIGNABLE_ROLES)
        raise InvalidArgument(f"unknown role {value!r}; one of {allowed}", field="role") from None


def new_token() -> tuple[str, str]:
    """A fresh (token id, token). The token is shown once; store only `hash_token(token)`."""
    token_id = secrets.token_hex(6)
    return token_id, f"mlops_{token_id}_{secrets.token_urlsafe(32)}"


def token_id_of(token: str) -> str | None:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "mlops" or not parts[1] or not parts[2]:
        return None
    return parts[1]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), stored_hash)


def bearer_token(header_value: str | None) -> str | None:
    """The token from an `Authorization: Bearer <token>` value."""
    if not header_value:
        return None
    scheme, _, value = header_value.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
