"""Domain events: CloudEvents 1.0 on NATS JetStream, a transactional outbox, idempotent consumers.

docs/events.md describes the streams, subjects, envelope and delivery guarantees.
"""

from mlops.kernel.events.bus import DEADLETTER_STREAM_CONFIG, EVENT_STREAM_CONFIG, EventBus
from mlops.kernel.events.consumer import DurableConsumer, Handler
from mlops.kernel.events.envelope import (
    CONTENT_TYPE,
    DEADLETTER_PREFIX,
    DEADLETTER_STREAM,
    STREAM,
    SUBJECT_PREFIX,
    CloudEvent,
    EnvelopeError,
    build_event,
    decode,
    subject_for,
)
from mlops.kernel.events.outbox import record_event
from mlops.kernel.events.relay import OutboxRelay

__all__ = [
    "CONTENT_TYPE",
    "DEADLETTER_PREFIX",
    "DEADLETTER_STREAM",
    "DEADLETTER_STREAM_CONFIG",
    "EVENT_STREAM_CONFIG",
    "STREAM",
    "SUBJECT_PREFIX",
    "CloudEvent",
    "DurableConsumer",
    "EnvelopeError",
    "EventBus",
    "Handler",
    "OutboxRelay",
    "build_event",
    "decode",
    "record_event",
    "subject_for",
]
