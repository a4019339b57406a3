"""Wire tensors to numpy arrays and back: raw bytes (row-major; BYTES as 4-byte little-endian length
prefixes), typed lists (gRPC contents, JSON data) and the reverse for answers.

Every size is checked against the declared shape before anything is allocated from it, so a request
cannot make the worker build an array larger than what it sent.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlops.kernel.errors import InvalidArgument

NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(np.object_),
}
_DATATYPES = {dtype: name for name, dtype in NUMPY_DTYPES.items() if name != "BYTES"}
_LENGTH = struct.Struct("<I")


def numpy_dtype(datatype: str, name: str) -> np.dtype[Any]:
    try:
        return NUMPY_DTYPES[datatype]
    except KeyError:
        raise InvalidArgument(f"unknown datatype {datatype!r}", field=name) from None


def datatype_of(array: np.ndarray) -> str:
    if array.dtype.kind in "OSU":
        return "BYTES"
    try:
        return _DATATYPES[array.dtype]
    except KeyError:
        raise InvalidArgument(f"no protocol datatype for numpy {array.dtype}") from None


def element_count(shape: Sequence[int], name: str) -> int:
    if any(d < 0 for d in shape):
        raise InvalidArgument(f"shape {list(shape)} has a negative dimension", field=name)
    return math.prod(shape)


def from_raw(name: str, datatype: str, shape: Sequence[int], raw: bytes) -> np.ndarray:
    dtype = numpy_dtype(datatype, name)
    count = element_count(shape, name)
    if datatype == "BYTES":
        return _bytes_elements(name, raw, count).reshape(tuple(shape))
    if len(raw) != count * dtype.itemsize:
        raise InvalidArgument(
            f"{len(raw)} bytes of data for shape {list(shape)} of {datatype} "
            f"(expected {count * dtype.itemsize})",
            field=name,
        )
    return np.frombuffer(raw, dtype=dtype).reshape(tuple(shape))


def _bytes_elements(name: str, raw: bytes, count: int) -> np.ndarray:
    elements = np.empty(count, dtype=np.object_)
    offset = 0
    for index in range(count):
        if offset + 4 > len(raw):
            raise InvalidArgument(f"BYTES data ends before element {index}", field=name)
        (length,) = _LENGTH.unpack_from(raw, offset)
        offset += 4
        if offset + length > len(raw):
            raise InvalidArgument(f"BYTES element {index} runs past the data", field=name)
        elements[index] = raw[offset : offset + length]
        offset += length
    if offset != len(raw):
        raise InvalidArgument(f"{len(raw) - offset} bytes after the last BYTES element", field=name)
    return elements


def from_values(name: str, datatype: str, shape: Sequence[int], values: Sequence[Any]) -> np.ndarray:
    """Typed values (gRPC contents or JSON `data`, flat or nested) in row-major order."""
    dtype = numpy_dtype(datatype, name)
    count = element_count(shape, name)
    if datatype == "BYTES":
        flat = _flatten(values)
        array = np.empty(len(flat), dtype=np.object_)
        array[:] = [v.encode() if isinstance(v, str) else bytes(v) for v in flat]
    else:
        try:
            array = np.asarray(values, dtype=dtype).reshape(-1)
        except (TypeError, ValueError) as error:
            raise InvalidArgument(f"data is not {datatype}: {error}", field=name) from None
    if array.size != count:
        raise InvalidArgument(f"{array.size} values for shape {list(shape)}", field=name)
    return array.reshape(tuple(shape))


def _flatten(values: Sequence[Any]) -> list[Any]:
    flat: list[Any] = []
    for value in values:
        if isinstance(value, list | tuple):
            flat.extend(_flatten(value))
        else:
            flat.append(value)
    return flat


def to_raw(array: np.ndarray, datatype: str) -> bytes:
    if datatype == "BYTES":
        parts = []
        for element in array.reshape(-1):
            data = element.encode() if isinstance(element, str) else bytes(element)
            parts.append(_LENGTH.pack(len(data)))
            parts.append(data)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=NUMPY_DTYPES[datatype]).tobytes()


def to_values(array: np.ndarray, datatype: str) -> list[Any]:
    """Flat row-major values for JSON; BYTES as text where it is UTF-8."""
    flat = array.reshape(-1)
    if datatype == "BYTES":
        return [_text(e) for e in flat]
    return flat.tolist()


def _text(element: Any) -> Any:
    if isinstance(element, bytes):
        try:
            return element.decode()
        except UnicodeDecodeError:
            return element.hex()
    return element
