"""Which permission each gRPC method needs, which methods are public, and which ones mutate."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from mlops.kernel.auth import Permission

# Permissions that only let a caller look; a method guarded by any other permission is a mutation.
READ_PERMISSIONS: frozenset[Permission] = frozenset(
    {
        Permission.DATASET_READ,
        Permission.TRAINING_READ,
        Permission.REGISTRY_READ,
        Permission.SERVING_READ,
        Permission.PLATFORM_READ,
        Permission.AUDIT_READ,
    }
)

# Services anyone may call without a token: probes, schema discovery and token introspection
# (which reveals only what the token's holder already knows).
PUBLIC_SERVICES: frozenset[str] = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)
PUBLIC_METHODS: frozenset[str] = frozenset({"/mlops.identity.v1.IdentityService/Introspect"})

# For the gateway, which hosts the identity service: managing tokens is an admin's job.
IDENTITY_PERMISSIONS: dict[str, Permission] = {
    "/mlops.identity.v1.IdentityService/CreateToken": Permission.TOKENS_MANAGE,
    "/mlops.identity.v1.IdentityService/ListTokens": Permission.TOKENS_MANAGE,
    "/mlops.identity.v1.IdentityService/RevokeToken": Permission.TOKENS_MANAGE,
}


def service_of(method: str) -> str:
    """`/pkg.Service/Method` -> `pkg.Service`."""
    return method.lstrip("/").split("/", 1)[0]


@dataclass(frozen=True)
class MethodPolicy:
    """The rules the auth interceptor applies. Methods it does not know are denied."""

    permissions: Mapping[str, Permission]
    # Mutations too frequent and too uninteresting to audit (worker heartbeats); still authorised.
    unaudited: frozenset[str] = field(default_factory=frozenset)

    def is_public(self, method: str) -> bool:
        return method in PUBLIC_METHODS or service_of(method) in PUBLIC_SERVICES

    def permission_for(self, method: str) -> Permission | None:
        return self.permissions.get(method)

    def is_mutation(self, method: str) -> bool:
        permission = self.permissions.get(method)
        return permission is not None and permission not in READ_PERMISSIONS

    def is_audited(self, method: str) -> bool:
        """Whether every call's outcome is audited (refusals always are, whatever the method)."""
        return self.is_mutation(method) and method not in self.unaudited

    def merged(self, permissions: Mapping[str, Permission], unaudited: Iterable[str] = ()) -> MethodPolicy:
        return MethodPolicy({**self.permissions, **permissions}, self.unaudited | frozenset(unaudited))


def idempotent_methods(permissions: Mapping[str, Permission]) -> list[str]:
    """Methods a client may retry safely after UNAVAILABLE: the read-only ones."""
    return [method for method, permission in permissions.items() if permission in READ_PERMISSIONS]
