"""The token store and first-start bootstrap against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from mlops.kernel.auth import Role, new_token
from mlops.kernel.db import Database
from mlops.kernel.errors import AlreadyExists, FailedPrecondition, NotFound
from services.gateway.bootstrap import bootstrap_tokens
from services.gateway.domain import issue_token, utcnow
from services.gateway.service import TokenService
from services.gateway.settings import GatewaySettings
from services.gateway.store import SqlTokenStore, migrate_gateway_db


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlTokenStore]:
    await migrate_gateway_db(database_url)
    db = Database(database_url)
    yield SqlTokenStore(db)
    await db.dispose()


async def test_tokens_round_trip_with_their_timestamps(store: SqlTokenStore) -> None:
    now = utcnow()
    record, secret = issue_token(
        role=Role.AUDITOR, subject="aud", created_by="admin", now=now, ttl_seconds=60
    )
    await store.add(record)
    loaded = await store.get(record.token_id)
    assert loaded == record
    assert loaded is not None and loaded.matches(secret)
    assert await store.get("missing") is None
    with pytest.raises(AlreadyExists):
        await store.add(record)


async def test_revoked_tokens_leave_the_default_listing(store: SqlTokenStore) -> None:
    now = utcnow()
    kept, _ = issue_token(role=Role.VIEWER, created_by="admin", now=now)
    gone, _ = issue_token(role=Role.VIEWER, created_by="admin", now=now)
    await store.add(kept)
    await store.add(gone)
    await store.save_revocation(gone.revoke(now))
    assert [t.token_id for t in await store.list_tokens()] == [kept.token_id]
    assert {t.token_id for t in await store.list_tokens(include_revoked=True)} == {
        kept.token_id,
        gone.token_id,
    }
    revoked = await store.get(gone.token_id)
    assert revoked is not None and revoked.revoked_at == gone.revoke(now).revoked_at
    ghost, _ = issue_token(role=Role.VIEWER, created_by="admin", now=now)
    with pytest.raises(NotFound):
        await store.save_revocation(ghost.revoke(now))


async def test_has_active_ignores_revoked_and_expired_tokens(store: SqlTokenStore) -> None:
    now = utcnow()
    expired, _ = issue_token(role=Role.ADMIN, created_by="t", now=now - timedelta(hours=2), ttl_seconds=60)
    revoked, _ = issue_token(role=Role.ADMIN, created_by="t", now=now)
    await store.add(expired)
    await store.add(revoked.revoke(now))
    assert not await store.has_active(Role.ADMIN, now)
    current, _ = issue_token(role=Role.ADMIN, created_by="t", now=now, ttl_seconds=60)
    await store.add(current)
    assert await store.has_active(Role.ADMIN, now)
    assert not await store.has_active(Role.ADMIN, now + timedelta(minutes=5))


async def test_the_last_admin_token_cannot_be_revoked(store: SqlTokenStore) -> None:
    service = TokenService(store)
    only, only_secret = issue_token(role=Role.ADMIN, created_by="t", now=utcnow())
    await store.add(only)
    with pytest.raises(FailedPrecondition):
        await service.revoke(only.principal(), only.token_id)
    spare, spare_secret = await service.create(only.principal(), role="admin", subject="second")
    assert (await service.revoke(only.principal(), only.token_id)).revoked_at is not None
    assert await service.introspect(only_secret) is None
    assert await service.introspect(spare_secret) == spare.principal()


async def test_bootstrap_writes_tokens_once_and_registers_them(store: SqlTokenStore, tmp_path: Path) -> None:
    settings = GatewaySettings(data_dir=tmp_path)
    await bootstrap_tokens(store, settings)
    admin = (tmp_path / "admin.token").read_text().strip()
    platform = (tmp_path / "service.token").read_text().strip()
    assert stat.S_IMODE((tmp_path / "admin.token").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "service.token").stat().st_mode) == 0o600
    service = TokenService(store)
    assert (await service.authenticate(admin)).role is Role.ADMIN
    caller = await service.authenticate(platform)
    assert (caller.subject, caller.role) == ("platform", Role.SERVICE)
    await bootstrap_tokens(store, settings)
    assert (tmp_path / "admin.token").read_text().strip() == admin
    assert (tmp_path / "service.token").read_text().strip() == platform
    assert len(await store.list_tokens()) == 2


async def test_a_revoked_service_token_is_replaced_on_start(store: SqlTokenStore, tmp_path: Path) -> None:
    settings = GatewaySettings(data_dir=tmp_path)
    await bootstrap_tokens(store, settings)
    old = (tmp_path / "service.token").read_text().strip()
    service = TokenService(store)
    admin = await service.authenticate((tmp_path / "admin.token").read_text().strip())
    old_principal = await service.authenticate(old)
    await service.revoke(admin, old_principal.token_id)
    await bootstrap_tokens(store, settings)
    new = (tmp_path / "service.token").read_text().strip()
    assert new != old
    assert (await service.authenticate(new)).role is Role.SERVICE


async def test_bootstrap_tokens_from_settings_are_registered_by_hash_only(
    store: SqlTokenStore, tmp_path: Path
) -> None:
    _, admin_secret = new_token()
    _, service_secret = new_token()
    settings = GatewaySettings(
        data_dir=tmp_path,
        bootstrap_admin_token=SecretStr(admin_secret),
        bootstrap_service_token=SecretStr(service_secret),
    )
    await bootstrap_tokens(store, settings)
    await bootstrap_tokens(store, settings)
    assert not (tmp_path / "admin.token").exists()
    assert not (tmp_path / "service.token").exists()
    service = TokenService(store)
    assert (await service.authenticate(admin_secret)).role is Role.ADMIN
    assert (await service.authenticate(service_secret)).role is Role.SERVICE
    stored = await store.list_tokens()
    assert len(stored) == 2
    assert all(admin_secret not in (t.hash, t.description) for t in stored)


@pytest.mark.parametrize("from_settings", [False, True], ids=["generated", "from-settings"])
async def test_replicas_starting_together_make_one_admin_token(
    database_url: str, tmp_path: Path, from_settings: bool
) -> None:
    await migrate_gateway_db(database_url)
    replicas = [Database(database_url) for _ in range(5)]
    handed_in = SecretStr(new_token()[1]) if from_settings else None
    try:
        await asyncio.gather(
            *(
                bootstrap_tokens(
                    SqlTokenStore(db),
                    GatewaySettings(data_dir=tmp_path / f"replica-{n}", bootstrap_admin_token=handed_in),
                )
                for n, db in enumerate(replicas)
            )
        )
        stored = await SqlTokenStore(replicas[0]).list_tokens()
    finally:
        for db in replicas:
            await db.dispose()
    assert len([t for t in stored if t.role is Role.ADMIN]) == 1
    assert _admin_token_files(tmp_path) == (0 if from_settings else 1)


def _admin_token_files(root: Path) -> int:
    return len(list(root.glob("replica-*/admin.token")))
