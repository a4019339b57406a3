"""ASGI middleware writing one audit row per HTTP mutation and per refused request (401/403)."""

from __future__ import annotations

import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlops.kernel.audit import (
    OUTCOME_DENIED,
    OUTCOME_ERROR,
    OUTCOME_OK,
    OUTCOME_UNAUTHENTICATED,
    AuditEntry,
    AuditRecorder,
)
from mlops.kernel.auth import Principal
from mlops.kernel.grpcx.tracing import current_trace_id
from services.gateway.api.deps import PRINCIPAL_STATE, RESOURCE_STATE

log = logging.getLogger(__name__)

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Set by the error handler: why a request was refused or failed.
DETAIL_STATE = "audit_detail"


def outcome_for(status: int) -> str:
    if status == 401:
        return OUTCOME_UNAUTHENTICATED
    if status == 403:
        return OUTCOME_DENIED
    return OUTCOME_OK if status < 400 else OUTCOME_ERROR


class AuditMiddleware:
    def __init__(self, app: ASGIApp, recorder: AuditRecorder) -> None:
        self.app = app
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        audited = False

        async def audit_then_send(message: Message) -> None:
            # The row is committed before the caller sees the response, so what a caller saw
            # succeed or fail is already in the log when it asks.
            nonlocal audited
            if message["type"] == "http.response.start" and not audited:
                audited = True
                if scope["method"] in MUTATING_METHODS or message["status"] in (401, 403):
                    await self._record(scope, message["status"])
            await send(message)

        try:
            await self.app(scope, receive, audit_then_send)
        except Exception:
            if not audited:
                await self._record(scope, 500)
            raise

    async def _record(self, scope: Scope, status: int) -> None:
        state: dict[str, Any] = scope.get("state", {})
        principal: Principal | None = state.get(PRINCIPAL_STATE)
        path = scope["path"]
        outcome = outcome_for(status)
        detail = state.get(DETAIL_STATE, "")
        if outcome == OUTCOME_ERROR:
            detail = f"HTTP {status}: {detail}".rstrip(": ")
        entry = AuditEntry(
            actor=principal.subject if principal else "anonymous",
            role=principal.role.value if principal else "",
            action=f"{scope['method']} {path}",
            resource=str(state.get(RESOURCE_STATE) or path),
            outcome=outcome,
            detail=detail,
            trace_id=current_trace_id(),
        )
        try:
            await self.recorder.record(entry)
        except Exception:
            # The response has gone; losing the row is logged loudly rather than turned into a 500.
            log.exception("could not write an audit record", extra={"fields": {"action": entry.action}})
