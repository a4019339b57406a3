"""Where API tokens live: one interface, one SQLAlchemy implementation (SQLite or PostgreSQL)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Select, or_, select, update

from mlops.kernel.auth import Role
from mlops.kernel.db import Database, migrate_async
from mlops.kernel.errors import AlreadyExists, NotFound
from services.gateway.domain import ApiToken
from services.gateway.tables import tokens

MIGRATIONS = Path(__file__).parent / "migrations" / "versions"


async def migrate_gateway_db(url: str) -> None:
    """The kernel's tables and the gateway's, to the newest revision."""
    await migrate_async(url, MIGRATIONS)


class TokenStore(Protocol):
    async def add(self, token: ApiToken) -> None: ...

    async def get(self, token_id: str) -> ApiToken | None: ...

    async def list_tokens(self, *, include_revoked: bool = False) -> list[ApiToken]: ...

    async def save_revocation(self, token: ApiToken) -> None: ...

    async def has_active(self, role: Role, now: datetime) -> bool: ...

    def exclusive(self, name: str) -> AbstractAsyncContextManager[None]:
        """A block that one gateway replica at a time runs against this store."""
        ...


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands timestamps back without a zone; every one we write is UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _to_token(row: Any) -> ApiToken:
    return ApiToken(
        token_id=row.token_id,
        subject=row.subject,
        role=Role(row.role),
        description=row.description,
        hash=row.hash,
        created_at=_aware(row.created_at) or row.created_at,
        created_by=row.created_by,
        expires_at=_aware(row.expires_at),
        revoked_at=_aware(row.revoked_at),
    )


def _id_query(token_id: str) -> Select[tuple[str]]:
    return select(tokens.c.token_id).where(tokens.c.token_id == token_id)


class SqlTokenStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def exclusive(self, name: str) -> AbstractAsyncContextManager[None]:
        return self.db.exclusive(name)

    async def add(self, token: ApiToken) -> None:
        async with self.db.transaction() as session:
            if await session.scalar(_id_query(token.token_id)) is not None:
                raise AlreadyExists(f"token {token.token_id} already exists", field="token_id")
            await session.execute(
                tokens.insert().values(
                    token_id=token.token_id,
                    subject=token.subject,
                    role=token.role.value,
                    description=token.description,
                    hash=token.hash,
                    created_at=token.created_at,
                    created_by=token.created_by,
                    expires_at=token.expires_at,
                    revoked_at=token.revoked_at,
                )
            )

    async def get(self, token_id: str) -> ApiToken | None:
        async with self.db.sessions() as session:
            row = (await session.execute(select(tokens).where(tokens.c.token_id == token_id))).first()
        return _to_token(row) if row is not None else None

    async def list_tokens(self, *, include_revoked: bool = False) -> list[ApiToken]:
        query = select(tokens).order_by(tokens.c.created_at, tokens.c.token_id)
        if not include_revoked:
            query = query.where(tokens.c.revoked_at.is_(None))
        async with self.db.sessions() as session:
            rows = (await session.execute(query)).all()
        return [_to_token(row) for row in rows]

    async def save_revocation(self, token: ApiToken) -> None:
        async with self.db.transaction() as session:
            result = await session.execute(
                update(tokens)
                .where(tokens.c.token_id == token.token_id, tokens.c.revoked_at.is_(None))
                .values(revoked_at=token.revoked_at)
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                if await session.scalar(_id_query(token.token_id)) is None:
                    raise NotFound(f"no token {token.token_id}", field="token_id")

    async def has_active(self, role: Role, now: datetime) -> bool:
        query = (
            select(tokens.c.token_id)
            .where(
                tokens.c.role == role.value,
                tokens.c.revoked_at.is_(None),
                or_(tokens.c.expires_at.is_(None), tokens.c.expires_at > now),
            )
            .limit(1)
        )
        async with self.db.sessions() as session:
            return await session.scalar(query) is not None
