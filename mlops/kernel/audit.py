"""The append-only audit log: who did what, when, and how it ended, in each service's database."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import func, insert, select

from mlops.api.audit.v1 import audit_pb2, audit_pb2_grpc
from mlops.api.common.v1 import common_pb2
from mlops.kernel.auth import Permission
from mlops.kernel.db import Database
from mlops.kernel.errors import InvalidArgument
from mlops.kernel.tables import audit_log

log = logging.getLogger(__name__)

AUDIT_PERMISSIONS: dict[str, Permission] = {
    "/mlops.audit.v1.AuditService/ListAuditRecords": Permission.AUDIT_READ,
}

OUTCOME_OK = "ok"
OUTCOME_ERROR = "error"
OUTCOME_DENIED = "denied"
OUTCOME_UNAUTHENTICATED = "unauthenticated"

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

# Column widths from mlops.kernel.tables: longer values are cut rather than refused, since losing the
# audit row would be worse than a truncated resource name.
_LIMITS = {"service": 64, "actor": 255, "role": 64, "action": 255, "resource": 512, "outcome": 32}


@dataclass(frozen=True)
class AuditEntry:
    actor: str
    role: str
    action: str
    resource: str
    outcome: str
    detail: str = ""
    trace_id: str = ""


class AuditRecorder:
    """Writes one row per entry, in its own transaction, so a failed change is still recorded."""

    def __init__(self, db: Database, service: str) -> None:
        self.db = db
        self.service = service

    async def record(self, entry: AuditEntry) -> None:
        row: dict[str, Any] = {
            "at": datetime.now(UTC),
            "service": self.service,
            "actor": entry.actor,
            "role": entry.role,
            "action": entry.action,
            "resource": entry.resource,
            "outcome": entry.outcome,
            "detail": entry.detail,
            "trace_id": entry.trace_id[:32],
        }
        for column, limit in _LIMITS.items():
            row[column] = row[column][:limit]
        async with self.db.transaction() as session:
            await session.execute(insert(audit_log).values(**row))


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    # SQLite hands datetimes back naive; they were written in UTC.
    stamp.FromDatetime(value if value.tzinfo else value.replace(tzinfo=UTC))
    return stamp


def _record_message(row: Any) -> audit_pb2.AuditRecord:
    return audit_pb2.AuditRecord(
        seq=row.seq,
        at=_timestamp(row.at),
        service=row.service,
        actor=row.actor,
        role=row.role,
        action=row.action,
        resource=row.resource,
        outcome=row.outcome,
        detail=row.detail,
        trace_id=row.trace_id,
    )


def _page_size(page: common_pb2.PageRequest) -> int:
    if page.page_size < 0:
        raise InvalidArgument("must not be negative", field="page.page_size")
    return min(page.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _cursor(page: common_pb2.PageRequest) -> int | None:
    if not page.page_token:
        return None
    try:
        return int(page.page_token)
    except ValueError:
        raise InvalidArgument("not a token this service issued", field="page.page_token") from None


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    """Lists the audit log newest first; the auth interceptor requires audit:read."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def ListAuditRecords(
        self, request: audit_pb2.ListAuditRecordsRequest, context: grpc.aio.ServicerContext
    ) -> audit_pb2.ListAuditRecordsResponse:
        size = _page_size(request.page)
        cursor = _cursor(request.page)
        filters = []
        if request.actor:
            filters.append(audit_log.c.actor == request.actor)
        if request.outcome:
            filters.append(audit_log.c.outcome == request.outcome)
        if request.HasField("since"):
            filters.append(audit_log.c.at >= request.since.ToDatetime(tzinfo=UTC))
        query = select(audit_log).where(*filters)
        if cursor is not None:
            query = query.where(audit_log.c.seq < cursor)
        query = query.order_by(audit_log.c.seq.desc()).limit(size + 1)
        async with self.db.sessions() as session:
            rows = (await session.execute(query)).all()
            total = await session.scalar(select(func.count()).select_from(audit_log).where(*filters))
        next_token = str(rows[size - 1].seq) if len(rows) > size else ""
        return audit_pb2.ListAuditRecordsResponse(
            records=[_record_message(row) for row in rows[:size]],
            page=common_pb2.PageResponse(next_page_token=next_token, total_size=total or 0),
        )
