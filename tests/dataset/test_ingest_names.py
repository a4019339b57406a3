"""Every user-supplied name goes through safe_relative_path."""

from __future__ import annotations

import pytest

from mlops.kernel.errors import InvalidArgument
from services.dataset.ingest import safe_relative_path


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("../etc/passwd", r"climbs out"),
        ("cat/../../x.png", r"climbs out"),
        ("/etc/passwd", r"absolute"),
        ("C:/Windows/win.ini", r"absolute"),
        ("~/x.png", r"absolute"),
        ("..\\..\\x.png", r"backslash"),
        ("cat\\x.png", r"backslash"),
        ("%2e%2e%2fetc%2fpasswd", r"climbs out"),
        ("%2E%2E/x.png", r"climbs out"),
        ("%252e%252e%252fx.png", r"climbs out"),
        ("cat%5c..%5cx.png", r"backslash"),
        ("%2fetc%2fpasswd", r"absolute"),
        ("\uff0e\uff0e/x.png", r"climbs out"),
        ("cat/x\x00.png", r"control"),
        ("", r"empty"),
        ("./", r"names no file"),
    ],
)
def test_hostile_names_are_refused(raw: str, reason: str) -> None:
    with pytest.raises(InvalidArgument, match=reason):
        safe_relative_path(raw, field="member")


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("cat/1.png", "cat/1.png"),
        ("./cat//1.png", "cat/1.png"),
        ("a..b.png", "a..b.png"),
        ("my%20cat.png", "my%20cat.png"),
    ],
)
def test_ordinary_names_are_normalised(raw: str, safe: str) -> None:
    assert safe_relative_path(raw) == safe
