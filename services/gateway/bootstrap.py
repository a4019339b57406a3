"""First start: an admin token for the person who started the platform, a service token for its
processes. Both land in the data directory with mode 0600, or come from settings when the deployer
hands them in (then only their hashes are stored and no file is written)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from mlops.kernel.auth import Role, token_id_of
from services.gateway.domain import ApiToken, issue_token, register_token, utcnow
from services.gateway.settings import GatewaySettings
from services.gateway.store import TokenStore

log = logging.getLogger(__name__)

ADMIN_TOKEN_FILE = "admin.token"
SERVICE_TOKEN_FILE = "service.token"
BOOTSTRAP_ACTOR = "bootstrap"


def write_secret(path: Path, secret: str) -> None:
    """Write through a private temporary file, so the secret is never readable by others, even briefly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (secret + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


async def bootstrap_tokens(store: TokenStore, settings: GatewaySettings) -> None:
    # Replicas starting together on one database take turns: otherwise each sees no admin token and
    # creates one, or both register the same token from settings and one fails on the duplicate.
    async with store.exclusive("gateway.bootstrap-tokens"):
        await _ensure_admin(store, settings)
        await _ensure_service(store, settings)


async def _ensure_admin(store: TokenStore, settings: GatewaySettings) -> None:
    now = utcnow()
    if await store.has_active(Role.ADMIN, now):
        return
    if settings.bootstrap_admin_token is not None:
        secret = settings.bootstrap_admin_token.get_secret_value()
        await _register_once(
            store,
            register_token(
                secret,
                role=Role.ADMIN,
                subject="admin",
                created_by=BOOTSTRAP_ACTOR,
                now=now,
                description="bootstrap admin token (from settings)",
            ),
        )
        return
    record, secret = issue_token(
        role=Role.ADMIN,
        subject="admin",
        created_by=BOOTSTRAP_ACTOR,
        now=now,
        description="created on first start",
    )
    await store.add(record)
    path = settings.data_dir / ADMIN_TOKEN_FILE
    write_secret(path, secret)
    log.info("created an admin token", extra={"fields": {"token_id": record.token_id, "path": str(path)}})


async def _ensure_service(store: TokenStore, settings: GatewaySettings) -> None:
    now = utcnow()
    if settings.bootstrap_service_token is not None:
        secret = settings.bootstrap_service_token.get_secret_value()
        await _register_once(
            store,
            register_token(
                secret,
                role=Role.SERVICE,
                subject="platform",
                created_by=BOOTSTRAP_ACTOR,
                now=now,
                description="platform service token (from settings)",
            ),
        )
        return
    path = settings.data_dir / SERVICE_TOKEN_FILE
    if path.exists():
        existing = path.read_text().strip()
        token_id = token_id_of(existing)
        known = await store.get(token_id) if token_id else None
        if known is not None and known.matches(existing) and known.is_active(now):
            return
        if token_id and known is None:
            # The file outlived its database (a new database URL): the processes holding it keep working.
            await store.add(
                register_token(
                    existing,
                    role=Role.SERVICE,
                    subject="platform",
                    created_by=BOOTSTRAP_ACTOR,
                    now=now,
                    description="platform service token (re-registered from its file)",
                )
            )
            return
        log.warning("the service token file holds a revoked, expired or foreign token; replacing it")
    record, secret = issue_token(
        role=Role.SERVICE,
        subject="platform",
        created_by=BOOTSTRAP_ACTOR,
        now=now,
        description="platform processes' own token",
    )
    await store.add(record)
    write_secret(path, secret)
    log.info("created the service token", extra={"fields": {"token_id": record.token_id, "path": str(path)}})


async def _register_once(store: TokenStore, record: ApiToken) -> None:
    known = await store.get(record.token_id)
    if known is None:
        await store.add(record)
    elif known.hash != record.hash:
        log.warning(
            "a bootstrap token's id is taken by another token; not registered",
            extra={"fields": {"token_id": record.token_id}},
        )
    elif not known.is_active(utcnow()):
        # Revoked on purpose, most likely: it stays revoked; hand in a new one to replace it.
        log.warning(
            "a bootstrap token from settings was revoked and stays so",
            extra={"fields": {"token_id": record.token_id, "role": record.role.value}},
        )
