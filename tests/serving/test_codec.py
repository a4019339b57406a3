"""Wire tensors to arrays and back: raw bytes, BYTES length prefixes, typed values, and refusals."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from mlops.kernel.errors import InvalidArgument
from services.serving.inference import codec


def test_raw_round_trip_is_row_major() -> None:
    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    raw = codec.to_raw(array, "FP32")
    assert raw == array.tobytes(order="C")
    np.testing.assert_array_equal(codec.from_raw("x", "FP32", (2, 3, 4), raw), array)


def test_bytes_elements_carry_four_byte_length_prefixes() -> None:
    raw = codec.to_raw(np.array([b"ab", b"", "\u00e9"], dtype=object), "BYTES")
    assert (
        raw == struct.pack("<I", 2) + b"ab" + struct.pack("<I", 0) + struct.pack("<I", 2) + "\u00e9".encode()
    )
    decoded = codec.from_raw("s", "BYTES", (3,), raw)
    assert decoded.tolist() == [b"ab", b"", "\u00e9".encode()]


@pytest.mark.parametrize(
    ("datatype", "shape", "raw", "reason"),
    [
        ("FP32", (2, 2), b"\0" * 12, "expected 16"),
        ("FP32", (-1, 2), b"", "negative dimension"),
        ("FP33", (1,), b"\0" * 4, "unknown datatype"),
        ("BYTES", (2,), struct.pack("<I", 1) + b"a", "ends before element 1"),
        ("BYTES", (1,), struct.pack("<I", 5) + b"a", "runs past"),
        ("BYTES", (1,), struct.pack("<I", 1) + b"ab", "after the last"),
    ],
)
def test_malformed_raw_data_is_refused(
    datatype: str, shape: tuple[int, ...], raw: bytes, reason: str
) -> None:
    with pytest.raises(InvalidArgument, match=reason):
        codec.from_raw("x", datatype, shape, raw)


def test_typed_values_flat_or_nested() -> None:
    flat = codec.from_values("x", "INT64", (2, 2), [1, 2, 3, 4])
    nested = codec.from_values("x", "INT64", (2, 2), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(flat, nested)
    assert flat.dtype == np.int64
    assert codec.from_values("s", "BYTES", (2,), ["a", b"b"]).tolist() == [b"a", b"b"]
    with pytest.raises(InvalidArgument, match="3 values for shape"):
        codec.from_values("x", "FP32", (2, 2), [1.0, 2.0, 3.0])
    with pytest.raises(InvalidArgument, match="not FP32"):
        codec.from_values("x", "FP32", (1,), ["nope"])


def test_values_for_json() -> None:
    assert codec.to_values(np.array([[1.5, 2.0]], dtype=np.float32), "FP32") == [1.5, 2.0]
    assert codec.to_values(np.array([b"hi", b"\xff"], dtype=object), "BYTES") == ["hi", "ff"]
    assert codec.datatype_of(np.zeros(1, dtype=np.uint16)) == "UINT16"
