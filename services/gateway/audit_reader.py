"""Reads the gateway's own audit rows, newest first, a page at a time (the cursor is the last seq)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from mlops.kernel.db import Database
from mlops.kernel.errors import InvalidArgument
from mlops.kernel.tables import audit_log

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class AuditQuery:
    page_size: int = DEFAULT_PAGE_SIZE
    page_token: str = ""
    actor: str = ""
    outcome: str = ""


def _cursor(page_token: str) -> int | None:
    if not page_token:
        return None
    try:
        return int(page_token)
    except ValueError:
        raise InvalidArgument("not a token this service issued", field="page_token") from None


async def list_audit_records(db: Database, query: AuditQuery) -> tuple[list[dict[str, Any]], str]:
    """The page's rows as dicts, and the next page's token ("" on the last page)."""
    size = min(max(query.page_size, 1), MAX_PAGE_SIZE)
    statement = select(audit_log)
    if query.actor:
        statement = statement.where(audit_log.c.actor == query.actor)
    if query.outcome:
        statement = statement.where(audit_log.c.outcome == query.outcome)
    cursor = _cursor(query.page_token)
    if cursor is not None:
        statement = statement.where(audit_log.c.seq < cursor)
    statement = statement.order_by(audit_log.c.seq.desc()).limit(size + 1)
    async with db.sessions() as session:
        rows = (await session.execute(statement)).mappings().all()
    records = [dict(row) for row in rows[:size]]
    for record in records:
        at: datetime = record["at"]
        # SQLite hands timestamps back naive; they were written in UTC.
        record["at"] = at if at.tzinfo else at.replace(tzinfo=UTC)
    next_token = str(rows[size - 1]["seq"]) if len(rows) > size else ""
    return records, next_token
