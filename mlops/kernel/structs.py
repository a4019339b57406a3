"""google.protobuf.Struct to and from plain JSON values, once for every service and the CLI."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format, struct_pb2


def struct_to_dict(message: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as plain JSON values. Struct carries every number as a double: whole ones come back
    as ints (an image's width of 8 stays 8, an epoch count stays a count), as they were most likely sent."""
    return _whole_numbers_as_ints(json_format.MessageToDict(message))  # type: ignore[no-any-return]


def dict_to_struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def _whole_numbers_as_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {key: _whole_numbers_as_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_numbers_as_ints(item) for item in value]
    return value
