"""The caller of the request being handled, for finer checks inside servicers."""

from __future__ import annotations

from mlops.kernel.auth import Permission, Principal, current_principal
from mlops.kernel.errors import PermissionDenied, Unauthenticated


def principal() -> Principal:
    """The authenticated caller; raises Unauthenticated outside an authenticated request."""
    caller = current_principal.get()
    if caller is None:
        raise Unauthenticated("no authenticated caller")
    return caller


def require(permission: Permission) -> Principal:
    """The caller, if their role grants `permission`; raises PermissionDenied otherwise."""
    caller = principal()
    if not caller.can(permission):
        raise PermissionDenied(f"role {caller.role.value} lacks permission {permission.value}")
    return caller
