"""Recording events in the caller's transaction, and waking this process's relays after the commit."""

from __future__ import annotations

import asyncio
import weakref
from datetime import UTC, datetime
from typing import Any, Protocol

from google.protobuf.message import Message
from opentelemetry import propagate
from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from mlops.kernel.events.envelope import (
    CONTENT_TYPE,
    HEADER_CONTENT_TYPE,
    HEADER_MSG_ID,
    HEADER_SOURCE,
    HEADER_TYPE,
    build_event,
    subject_for,
)
from mlops.kernel.tables import outbox

_RECORDED = "mlops.events.recorded"


class Wakeable(Protocol):
    def wake(self) -> None: ...


_relays: weakref.WeakSet[Any] = weakref.WeakSet()


def register_relay(relay: Wakeable) -> None:
    """Have `relay.wake()` called after every commit in this process that recorded an event."""
    _relays.add(relay)


def unregister_relay(relay: Wakeable) -> None:
    _relays.discard(relay)


async def record_event(session: AsyncSession, payload: Message, *, source: str, subject: str = "") -> str:
    """Add `payload` to the outbox within the session's transaction; it is published after the commit.

    `source` is the producing service ("dataset"), `subject` the resource the event is about. The
    current trace context is stored with the event so the consumers' spans join the caller's trace.
    """
    envelope = build_event(payload, source=source, subject=subject)
    headers: dict[str, str] = {
        HEADER_MSG_ID: envelope.id,
        HEADER_TYPE: envelope.type,
        HEADER_SOURCE: envelope.source,
        HEADER_CONTENT_TYPE: CONTENT_TYPE,
    }
    propagate.inject(headers)
    await session.execute(
        insert(outbox).values(
            event_id=envelope.id,
            subject=subject_for(source, payload),
            payload=envelope.to_json(),
            headers=headers,
            created_at=datetime.now(UTC),
            attempts=0,
        )
    )
    session.sync_session.info[_RECORDED] = True
    return envelope.id


@event.listens_for(Session, "after_commit")
def _wake_relays(session: Session) -> None:
    if not session.info.pop(_RECORDED, False):
        return
    for relay in list(_relays):
        _wake_soon(relay)


@event.listens_for(Session, "after_soft_rollback")
def _forget_recorded(session: Session, _previous_transaction: Any) -> None:
    session.info.pop(_RECORDED, None)


def _wake_soon(relay: Wakeable) -> None:
    loop = getattr(relay, "loop", None)
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    # The commit hook runs on the committing loop's thread; a relay bound to another loop is woken there.
    if loop is None or loop is running:
        relay.wake()
    elif not loop.is_closed():
        loop.call_soon_threadsafe(relay.wake)
