"""CloudEvents envelopes: building, encoding and decoding, without infrastructure."""

from __future__ import annotations

import json

import pytest
from google.protobuf import struct_pb2

from mlops.api.events.v1 import events_pb2
from mlops.kernel.events import CloudEvent, EnvelopeError, build_event, decode, subject_for


def _published() -> events_pb2.DatasetVersionPublished:
    return events_pb2.DatasetVersionPublished(
        dataset_id="ds-1",
        number=3,
        manifest_digest="sha256:ab",
        counts_per_purpose={"train": 8, "test": 2},
        sample_count=10,
        author="alice",
    )


def test_subject_names_source_and_message() -> None:
    assert subject_for("dataset", _published()) == "mlops.events.dataset.DatasetVersionPublished"


def test_envelope_has_cloudevents_attributes() -> None:
    event = build_event(_published(), source="dataset", subject="ds-1")
    body = json.loads(event.to_json())
    assert body["specversion"] == "1.0"
    assert body["source"] == "/mlops/dataset"
    assert body["type"] == "mlops.events.v1.DatasetVersionPublished"
    assert body["dataschema"] == "proto:mlops.events.v1.DatasetVersionPublished"
    assert body["datacontenttype"] == "application/json"
    assert body["subject"] == "ds-1"
    assert body["time"].endswith("Z")
    assert len(body["id"]) == 32
    # Proto field names, not lowerCamelCase: outside subscribers read the same names as events.proto.
    assert body["data"]["dataset_id"] == "ds-1"
    assert body["data"]["counts_per_purpose"] == {"train": "8", "test": "2"}


def test_round_trip_restores_the_payload() -> None:
    event = build_event(_published(), source="dataset")
    decoded = decode(event.to_json())
    assert decoded == event
    assert decoded.type_name == "DatasetVersionPublished"
    assert decoded.payload(events_pb2.DatasetVersionPublished) == _published()


def test_struct_payloads_survive() -> None:
    attributes = struct_pb2.Struct()
    attributes.update({"k": "v", "n": 2})
    ping = events_pb2.Ping(note="hi", attributes=attributes)
    assert decode(build_event(ping, source="kernel").to_json()).payload(events_pb2.Ping) == ping


def test_unknown_fields_and_extensions_are_tolerated() -> None:
    body = {
        "specversion": "1.0",
        "id": "e1",
        "source": "/mlops/x",
        "type": "mlops.events.v1.Ping",
        "time": "2026-01-01T00:00:00Z",
        "data": {"note": "n", "added_later": 1},
        "traceparent": "00-x",
    }
    event = decode(json.dumps(body).encode())
    assert event.payload(events_pb2.Ping).note == "n"
    assert event.extensions == {"traceparent": "00-x"}
    assert json.loads(event.to_json())["traceparent"] == "00-x"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1]",
        b'{"specversion": "0.3", "id": "a", "source": "s", "type": "t"}',
        b'{"specversion": "1.0", "source": "s", "type": "t"}',
        b'{"specversion": "1.0", "id": "a", "source": "s", "type": "t", "data": "text"}',
    ],
)
def test_malformed_envelopes_are_refused(body: bytes) -> None:
    with pytest.raises(EnvelopeError):
        decode(body)


def test_cloud_event_is_immutable() -> None:
    event = CloudEvent(id="a", source="/mlops/x", type="t", time="", data={})
    with pytest.raises(AttributeError):
        event.id = "b"  # type: ignore[misc]
