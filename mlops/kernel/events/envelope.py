"""CloudEvents 1.0 envelopes (structured mode, JSON) around the protobuf payloads of events.proto."""

from __future__ import annotations

import builtins
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

STREAM = "MLOPS_EVENTS"
SUBJECT_PREFIX = "mlops.events"
DEADLETTER_STREAM = "MLOPS_DEADLETTER"
DEADLETTER_PREFIX = "mlops.deadletter"
CONTENT_TYPE = "application/cloudevents+json"
SPEC_VERSION = "1.0"

# Headers every event message carries besides the trace context.
HEADER_MSG_ID = "Nats-Msg-Id"
HEADER_TYPE = "Ce-Type"
HEADER_SOURCE = "Ce-Source"
HEADER_CONTENT_TYPE = "Content-Type"

M = TypeVar("M", bound=Message)


def subject_for(source: str, payload: Message) -> str:
    """The NATS subject an event of `payload`'s type from service `source` is published on."""
    return f"{SUBJECT_PREFIX}.{source}.{payload.DESCRIPTOR.name}"


def new_event_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class CloudEvent:
    """One decoded event. `data` is the payload as proto3 JSON; `payload()` parses it back."""

    id: str
    source: str
    type: str
    time: str
    data: dict[str, Any]
    subject: str = ""
    dataschema: str = ""
    datacontenttype: str = "application/json"
    specversion: str = SPEC_VERSION
    extensions: dict[str, Any] = field(default_factory=dict)

    @property
    def type_name(self) -> str:
        """The payload message's short name, e.g. "DatasetVersionPublished"."""
        return self.type.rsplit(".", 1)[-1]

    def payload(self, message_class: builtins.type[M]) -> M:
        # Unknown fields are ignored so that consumers survive producers that add fields first.
        return json_format.ParseDict(self.data, message_class(), ignore_unknown_fields=True)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "specversion": self.specversion,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time,
            "datacontenttype": self.datacontenttype,
        }
        if self.subject:
            body["subject"] = self.subject
        if self.dataschema:
            body["dataschema"] = self.dataschema
        body.update(self.extensions)
        body["data"] = self.data
        return body

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=False).encode()


_CORE_ATTRIBUTES = {
    "specversion",
    "id",
    "source",
    "type",
    "time",
    "data",
    "subject",
    "dataschema",
    "datacontenttype",
}


class EnvelopeError(ValueError):
    """A message body that is not a CloudEvents 1.0 JSON envelope."""


def decode(body: bytes) -> CloudEvent:
    """Parse a structured-mode CloudEvents JSON body."""
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EnvelopeError(f"not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise EnvelopeError("envelope is not a JSON object")
    if raw.get("specversion") != SPEC_VERSION:
        raise EnvelopeError(f"unsupported specversion {raw.get('specversion')!r}")
    missing = [name for name in ("id", "source", "type") if not raw.get(name)]
    if missing:
        raise EnvelopeError(f"missing attributes: {', '.join(missing)}")
    data = raw.get("data") or {}
    if not isinstance(data, dict):
        raise EnvelopeError("data is not a JSON object")
    return CloudEvent(
        id=str(raw["id"]),
        source=str(raw["source"]),
        type=str(raw["type"]),
        time=str(raw.get("time", "")),
        data=data,
        subject=str(raw.get("subject", "")),
        dataschema=str(raw.get("dataschema", "")),
        datacontenttype=str(raw.get("datacontenttype", "application/json")),
        extensions={k: v for k, v in raw.items() if k not in _CORE_ATTRIBUTES},
    )


def build_event(
    payload: Message, *, source: str, subject: str = "", event_id: str | None = None
) -> CloudEvent:
    """The envelope for `payload` produced by service `source` about resource `subject`."""
    full_name = payload.DESCRIPTOR.full_name
    return CloudEvent(
        id=event_id or new_event_id(),
        source=f"/mlops/{source}",
        type=full_name,
        time=datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        data=json_format.MessageToDict(payload, preserving_proto_field_name=True),
        subject=subject,
        dataschema=f"proto:{full_name}",
    )
