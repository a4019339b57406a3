"""The one place that turns a user-supplied file or member name into a safe relative path."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

from mlops.kernel.errors import InvalidArgument

MAX_PATH_LENGTH = 512
_DRIVE = re.compile(r"^[A-Za-z]:")


def safe_relative_path(raw: str, *, field: str = "file_name") -> str:
    """A normalised `a/b/c` path, or InvalidArgument for anything that could leave its folder.

    Checks the name as given and as a server might decode it (percent-decoding, Unicode
    compatibility forms), since a name that is harmless here may be decoded by another tool later.
    """
    if not raw:
        raise InvalidArgument("a file name cannot be empty", field=field)
    if len(raw) > MAX_PATH_LENGTH:
        raise InvalidArgument(f"file name {raw[:40]!r}... is longer than {MAX_PATH_LENGTH}", field=field)
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise InvalidArgument(f"file name {raw!r} contains control characters", field=field)
    for form in _decoded_forms(raw):
        if "\\" in form:
            raise InvalidArgument(f"file name {raw!r} contains a backslash", field=field)
        if form.startswith(("/", "~")) or _DRIVE.match(form):
            raise InvalidArgument(f"file name {raw!r} is an absolute path", field=field)
        if ".." in form.split("/"):
            raise InvalidArgument(f"file name {raw!r} climbs out of its folder ('..')", field=field)
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if not parts:
        raise InvalidArgument(f"file name {raw!r} names no file", field=field)
    return "/".join(parts)


def _decoded_forms(raw: str) -> list[str]:
    forms = [raw]
    decoded = raw
    # Double encoding (%252e) decodes twice; a few rounds reach any form a chain of tools would.
    for _ in range(4):
        step = unquote(decoded)
        if step == decoded:
            break
        decoded = step
        forms.append(decoded)
    forms.extend(unicodedata.normalize("NFKC", f) for f in list(forms))
    return forms


def base_name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def stem(path: str) -> str:
    name = base_name(path)
    return name.rsplit(".", 1)[0] if "." in name[1:] else name
