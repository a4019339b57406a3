"""Named leases in kernel_leases: one holder at a time, until it stops renewing and the lease expires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, delete, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from mlops.kernel.tables import leases


async def acquire_lease(session: AsyncSession, name: str, holder: str, seconds: float) -> bool:
    """Take or renew lease `name` for `holder`; False while another holder's lease is unexpired."""
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=seconds)
    renewed = await session.execute(
        update(leases)
        .where(and_(leases.c.name == name, or_(leases.c.holder == holder, leases.c.expires_at < now)))
        .values(holder=holder, expires_at=expires_at)
    )
    if renewed.rowcount:  # type: ignore[attr-defined]
        return True
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    created = await session.execute(
        insert(leases).values(name=name, holder=holder, expires_at=expires_at).on_conflict_do_nothing()
    )
    return bool(created.rowcount)  # type: ignore[attr-defined]


async def release_lease(session: AsyncSession, name: str, holder: str) -> None:
    """Give the lease up early so another holder need not wait for it to expire."""
    await session.execute(delete(leases).where(and_(leases.c.name == name, leases.c.holder == holder)))
