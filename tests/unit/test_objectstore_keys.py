"""safe_key: the one gate every object key passes."""

from __future__ import annotations

import pytest

from mlops.kernel.errors import InvalidArgument
from mlops.kernel.objectstore import blob_key, safe_key


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("artifacts", "run-1", "model.onnx"), "artifacts/run-1/model.onnx"),
        (("artifacts", "run-1", "plots/loss curve.png"), "artifacts/run-1/plots/loss curve.png"),
        (("a", "name..with..dots"), "a/name..with..dots"),
        (("a", ".hidden"), "a/.hidden"),
        (("a", "100%"), "a/100%"),
        (("a", "caf\u00e9"), "a/caf\u00e9"),
    ],
)
def test_safe_key_joins_good_parts(parts: tuple[str, ...], expected: str) -> None:
    assert safe_key(*parts) == expected


@pytest.mark.parametrize(
    "parts",
    [
        (),
        ("",),
        ("artifacts", ""),
        ("artifacts", ".."),
        ("artifacts", "../secrets"),
        ("artifacts", "a/../../b"),
        ("artifacts", "./a"),
        ("artifacts", "a/./b"),
        ("/etc/passwd",),
        ("artifacts", "/etc/passwd"),
        ("artifacts", "a//b"),
        ("artifacts", "a/"),
        ("artifacts", "..\\windows"),
        ("artifacts", "a\\b"),
        ("artifacts", "a\x00b"),
        ("artifacts", "a\nb"),
        ("artifacts", "a\x7fb"),
        ("artifacts", "%2e%2e"),
        ("artifacts", "%2E%2E%2Fetc"),
        ("artifacts", "%2e%2e%2f"),
        ("artifacts", "a%2fb"),
        ("artifacts", "%252e%252e%252f"),
        ("artifacts", "..%2f"),
        ("artifacts", "%5c"),
        ("artifacts", "%00"),
        ("artifacts", "%2e"),
        ("C:", "windows"),
        ("c:\\windows",),
        ("artifacts", "x" * 1100),
    ],
)
def test_safe_key_refuses_traversal_and_oddities(parts: tuple[str, ...]) -> None:
    with pytest.raises(InvalidArgument):
        safe_key(*parts)


def test_safe_key_refuses_non_strings() -> None:
    with pytest.raises(InvalidArgument):
        safe_key("artifacts", 3)  # type: ignore[arg-type]


def test_blob_key_shards_by_hash_prefix() -> None:
    digest = "ab" + "0" * 62
    assert blob_key(digest) == f"blobs/sha256/ab/{digest}"


@pytest.mark.parametrize("digest", ["", "AB" + "0" * 62, "0" * 63, "../" + "0" * 61, "g" * 64])
def test_blob_key_refuses_what_is_not_a_sha256(digest: str) -> None:
    with pytest.raises(InvalidArgument):
        blob_key(digest)
